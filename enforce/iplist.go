package enforce

import (
	"fmt"
	"net/netip"
	"strings"

	"go4.org/netipx"
)

// IPList is an IP allow list (SPEC §9): addresses and CIDR ranges, IPv4
// and IPv6, merged into sorted ranges so that a check is a binary search
// however many entries the list has.
type IPList struct {
	set     *netipx.IPSet
	entries int
}

// NewIPList builds a list from its entries; an entry that is neither an
// address nor a CIDR range is an error that names it by position.
func NewIPList(entries []string) (*IPList, error) {
	var b netipx.IPSetBuilder
	for i, e := range entries {
		p, err := ParseIPEntry(e)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		b.AddPrefix(p)
	}
	set, err := b.IPSet()
	if err != nil {
		return nil, err
	}
	return &IPList{set: set, entries: len(entries)}, nil
}

// ParseIPEntry reads one entry of a list: an address (a range of one) or
// a CIDR range, without a zone.
func ParseIPEntry(e string) (netip.Prefix, error) {
	e = strings.TrimSpace(e)
	bad := func() error { return fmt.Errorf("%q is not an address or a CIDR range", e) }
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return netip.Prefix{}, bad()
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(e)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, bad()
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Contains reports whether the list allows the address. An IPv4 address
// written as IPv6 (::ffff:a.b.c.d, as a dual-stack listener reports it)
// is the IPv4 address.
func (l *IPList) Contains(a netip.Addr) bool {
	if l == nil || !a.IsValid() {
		return false
	}
	return l.set.Contains(a.Unmap())
}

// Len is the number of entries the list was built from; 0 for no list.
func (l *IPList) Len() int {
	if l == nil {
		return 0
	}
	return l.entries
}
