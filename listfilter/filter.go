package listfilter

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/target"
)

// MaxElement bounds one element of an answer (SPEC §10): a larger one is
// refused (502) rather than held.
const MaxElement = 8 << 20

// memSpool is how much of the filtered answer is kept in memory before it
// goes to a temporary file.
const memSpool = 1 << 20

// Work bounds of one answer, past which it is not checked further: its
// size (what stays is spooled to disk, which must not fill) and the
// lookups its elements may cost (GitHub's pages hold at most 100).
const (
	MaxAnswer  = 1 << 30
	MaxLookups = 1000
)

// Errors of an answer that cannot be checked; the handler answers 502.
var (
	ErrNotJSON       = errors.New("the answer is not the JSON its route returns")
	ErrElementTooBig = fmt.Errorf("an element of the answer is larger than %d bytes", MaxElement)
	ErrEncoding      = errors.New("the answer's content encoding cannot be read")
	ErrTooLarge      = fmt.Errorf("the answer is larger than %d bytes", int64(MaxAnswer))
)

// Verdict is the decision on one thing an element names.
type Verdict struct {
	// Keep says the token could read it on its own (or report mode or
	// fail-open waived a refusal).
	Keep bool
	// Reason is the decision's reason, for the metrics of removals.
	Reason enforce.Reason
}

// Decider decides, for the request's token, a read of what an element
// names. res carries the facts the element itself gives (owner type and
// visibility); the zero Resource asks the decider to look them up.
type Decider func(ctx context.Context, t target.Target, res target.Resource) Verdict

// Filter checks one answer of a Route. It is a gate.AnswerCheck; use it
// for one answer only.
type Filter struct {
	Route  *Route
	Decide Decider
	// MaxAnswer and MaxLookups override the package's bounds (tests).
	MaxAnswer  int64
	MaxLookups int

	removed   int
	owners    []string
	byReason  [enforce.NumReasons]int
	mu        sync.Mutex
	decisions map[string]Verdict // per owner/name or org, within this answer
}

// Removed reports how many elements the check removed and whose they
// were (lowercase logins, sorted).
func (f *Filter) Removed() (int, []string) { return f.removed, f.owners }

// RemovedBy reports how many elements were removed for each reason.
func (f *Filter) RemovedBy() [enforce.NumReasons]int { return f.byReason }

// Check filters the answer. Redirects, 304s and errors carry no list and
// pass untouched; a 200 must be the route's JSON, and any other success
// (a 206 range of the list) is refused: those are errors, which the
// handler answers with 502.
func (f *Filter) Check(ctx context.Context, status int, h http.Header, body io.Reader, out io.Writer) error {
	switch {
	case status >= 300:
		// Redirects, 304s and errors carry no list.
		_, err := io.Copy(out, body)
		return err
	case status != http.StatusOK:
		// A 206 would hand out the unfiltered bytes a range at a time;
		// no other success carries a list the gateway knows how to read.
		return fmt.Errorf("%w: status %d", ErrNotJSON, status)
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return ErrNotJSON
	}
	switch enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrEncoding, err)
		}
		defer zr.Close()
		body = zr
	case "deflate":
		zr, err := zlib.NewReader(body)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrEncoding, err)
		}
		defer zr.Close()
		body = zr
	default:
		return fmt.Errorf("%w: %s", ErrEncoding, enc)
	}
	sp := &spool{}
	defer sp.Close()
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n > 0 && n <= memSpool {
		// What stays is at most what came: one allocation for the spool.
		sp.buf.Grow(int(n))
	}
	if err := f.filter(ctx, body, sp); err != nil {
		return err
	}
	h.Del("Content-Encoding")
	if f.removed > 0 {
		// The answer is not the upstream's any more: a validator of it
		// would let a cache serve the upstream's to someone else.
		h.Del("ETag")
		h.Del("Last-Modified")
		slices.Sort(f.owners)
		f.owners = slices.Compact(f.owners)
		h.Set("X-PAT-Policy", "partial-results; organizations="+strings.Join(f.owners, ","))
	}
	h.Set("Content-Length", strconv.FormatInt(sp.n, 10))
	return sp.writeTo(out)
}

// filter reads the answer and writes what stays.
func (f *Filter) filter(ctx context.Context, body io.Reader, w io.Writer) error {
	br := &boundedReader{r: body, total: MaxAnswer}
	if f.MaxAnswer > 0 {
		br.total = f.MaxAnswer
	}
	br.element()
	// Duplicate names are not tracked: that costs a map per object (40%
	// of the time on GitHub's repository objects), and an answer is the
	// host's, not the client's, so it cannot be made ambiguous on purpose.
	dec := jsontext.NewDecoder(br, jsontext.AllowDuplicateNames(true))
	bad := func(err error) error {
		switch {
		case errors.Is(err, ErrElementTooBig):
			return ErrElementTooBig
		case errors.Is(err, ErrTooLarge):
			return ErrTooLarge
		}
		return fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	if f.Route.Container == Array {
		if err := f.array(ctx, dec, br, w); err != nil {
			return bad(err)
		}
	} else if err := f.object(ctx, dec, br, w); err != nil {
		return bad(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON value", ErrNotJSON)
	}
	return nil
}

// object copies a search-like answer member by member, filtering its
// element array. incomplete_results is written after the elements, true
// when one was removed: GitHub's order puts it first, but it can only be
// known at the end.
func (f *Filter) object(ctx context.Context, dec *jsontext.Decoder, br *boundedReader, w io.Writer) error {
	if dec.PeekKind() != '{' {
		return errors.New("not a JSON object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	list := "items"
	if f.Route.Container == Repositories {
		list = "repositories"
	}
	io.WriteString(w, "{")
	first, sawList := true, false
	var incomplete jsontext.Value
	member := func(name string) {
		if !first {
			io.WriteString(w, ",")
		}
		first = false
		b, _ := jsontext.AppendQuote(nil, name)
		w.Write(b)
		io.WriteString(w, ":")
	}
	for dec.PeekKind() != '}' {
		br.element()
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String()
		switch {
		case name == list:
			member(name)
			if err := f.array(ctx, dec, br, w); err != nil {
				return err
			}
			sawList = true
		case name == "incomplete_results" && f.Route.Container == Items:
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			incomplete = bytes.Clone(v)
		default:
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			member(name)
			w.Write(v)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if !sawList {
		return fmt.Errorf("no %q in the answer", list)
	}
	if f.Route.Container == Items && (incomplete != nil || f.removed > 0) {
		member("incomplete_results")
		if f.removed > 0 {
			io.WriteString(w, "true")
		} else {
			w.Write(incomplete)
		}
	}
	io.WriteString(w, "}")
	return nil
}

// Bounds on the elements waiting for their lookups while later ones are
// read: lookups of one page run in parallel, and the answer keeps its order.
const (
	lookupsInFlight = 8
	windowElements  = 64
	windowBytes     = 4 << 20
)

// pending is an element read but not yet written: its bytes (a copy,
// since the decoder reuses its buffer) and, once decided, its verdict.
type pending struct {
	v      []byte
	done   chan struct{}
	keep   bool
	owner  string
	reason enforce.Reason
}

// array copies the elements that stay, in their order. An element whose
// decision needs a lookup is decided in the background while the next ones
// are read (at most lookupsInFlight at once); elements wait in a window,
// bounded in count and bytes, until those before them are decided.
func (f *Filter) array(ctx context.Context, dec *jsontext.Decoder, br *boundedReader, w io.Writer) error {
	if dec.PeekKind() != '[' {
		return errors.New("not a JSON array")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	io.WriteString(w, "[")
	first := true
	emit := func(p *pending) error {
		if !p.keep {
			f.remove(p.owner, p.reason)
			return nil
		}
		if !first {
			io.WriteString(w, ",")
		}
		first = false
		_, err := w.Write(p.v)
		return err
	}
	var window []*pending
	var inWindow int
	flush := func(all bool) error {
		for len(window) > 0 {
			p := window[0]
			if all || len(window) > windowElements || inWindow > windowBytes {
				<-p.done
			} else {
				select {
				case <-p.done:
				default:
					return nil
				}
			}
			window = window[1:]
			inWindow -= len(p.v)
			if err := emit(p); err != nil {
				return err
			}
		}
		return nil
	}
	sem := make(chan struct{}, lookupsInFlight)
	lookups, maxLookups := 0, MaxLookups
	if f.MaxLookups > 0 {
		maxLookups = f.MaxLookups
	}
	// No lookup outlives the answer, even one cut short by an error.
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for {
		br.element()
		if dec.PeekKind() == ']' {
			break
		}
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		if len(v) > MaxElement {
			return ErrElementTooBig
		}
		names, ok := namesOf(f.Route.Kind, v)
		p := &pending{}
		if !ok {
			// What cannot be checked is not shown.
			p.reason = enforce.ReasonUndetermined
		} else if f.settled(names) {
			f.verdict(ctx, names, p)
		} else if lookups++; lookups > maxLookups {
			// Past the bound, what needs a lookup is not looked up, and
			// what cannot be checked is not shown.
			p.owner, p.reason = names[0].target.Owner, enforce.ReasonUndetermined
		} else {
			p.done = make(chan struct{})
			sem <- struct{}{}
			inFlight.Go(func() {
				defer func() { <-sem; close(p.done) }()
				f.verdict(ctx, names, p)
			})
		}
		if p.done == nil && len(window) == 0 {
			p.v = v
			if err := emit(p); err != nil {
				return err
			}
			continue
		}
		if p.done == nil {
			p.done = closed
		}
		p.v = bytes.Clone(v)
		window = append(window, p)
		inWindow += len(p.v)
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	io.WriteString(w, "]")
	return nil
}

// closed is a done channel for elements decided at once.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// settled reports whether every name can be decided without a lookup:
// the element carries its facts, or this answer decided the name before.
func (f *Filter) settled(names []named) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		if _, ok := f.decisions[decisionKey(n)]; !ok && !n.res.Known && n.target.Scope == target.Repository {
			return false
		}
	}
	return true
}

// verdict decides an element: it stays when every thing it names may be
// read.
func (f *Filter) verdict(ctx context.Context, names []named, p *pending) {
	p.keep = true
	for _, n := range names {
		v := f.decide(ctx, n)
		if !v.Keep {
			p.keep, p.owner, p.reason = false, n.target.Owner, v.Reason
			return
		}
	}
}

func decisionKey(n named) string {
	return n.target.Scope.String() + "/" + strings.ToLower(n.target.Owner+"/"+n.target.Name)
}

// decide decides one name, once per answer. It may run in several
// goroutines at once.
func (f *Filter) decide(ctx context.Context, n named) Verdict {
	key := decisionKey(n)
	f.mu.Lock()
	v, ok := f.decisions[key]
	f.mu.Unlock()
	if ok {
		return v
	}
	v = f.Decide(ctx, n.target, n.res)
	f.mu.Lock()
	if f.decisions == nil {
		f.decisions = map[string]Verdict{}
	}
	f.decisions[key] = v
	f.mu.Unlock()
	return v
}

func (f *Filter) remove(owner string, r enforce.Reason) {
	f.removed++
	if int(r) < len(f.byReason) {
		f.byReason[r]++
	}
	if owner != "" {
		f.owners = append(f.owners, strings.ToLower(owner))
	}
}

// named is one thing an element names, with the facts the element gives.
type named struct {
	target target.Target
	res    target.Resource
}

// repoFacts reads what a repository object of GitHub's says about its
// owner and visibility: full_name (or owner.login and name), owner.type,
// visibility, else private. Minimal repository objects (search/code,
// notifications) have "private" but no "visibility"; an internal
// repository is private. The facts count only when both the owner's type
// and the visibility are given; otherwise they are looked up.
func repoFacts(v []byte) (named, bool) {
	var fullName, name, login, typ, visibility string
	private := -1
	ok := members(v, func(k, val []byte) {
		switch string(k) {
		case "full_name":
			fullName = str(val)
		case "name":
			name = str(val)
		case "owner":
			login, typ = str(field(val, "login")), str(field(val, "type"))
		case "visibility":
			visibility = str(val)
		case "private":
			switch string(val) {
			case "true":
				private = 1
			case "false":
				private = 0
			}
		}
	})
	if !ok {
		return named{}, false
	}
	owner, repo, found := strings.Cut(fullName, "/")
	if !found {
		owner, repo = login, name
	}
	if owner == "" || repo == "" || strings.Contains(repo, "/") {
		return named{}, false
	}
	n := named{target: repoTarget(owner, repo)}
	vis := target.ParseVisibility(visibility)
	if visibility == "" && private >= 0 {
		vis = target.VisibilityPublic
		if private == 1 {
			vis = target.VisibilityPrivate
		}
	}
	var ot target.OwnerType
	switch typ {
	case "Organization":
		ot = target.OwnerOrganization
	case "User", "Bot":
		ot = target.OwnerUser
	}
	if vis != target.VisibilityUnknown && ot != target.OwnerUnknown {
		n.res = target.Resource{Known: true, OwnerLogin: owner, OwnerType: ot, Visibility: vis}
	}
	return n, true
}

// ElementTarget is what an element of route's answer names when it names
// name ("owner/repo" for the routes that list repositories or events, an
// organization's login for the others), for explaining one element.
func ElementTarget(route *Route, name string) (target.Target, error) {
	switch route.Kind {
	case Org, OrgField:
		if name == "" || strings.Contains(name, "/") {
			return target.Target{}, fmt.Errorf("%s lists organizations: name one by its login", route.Pattern)
		}
		return orgTarget(name), nil
	}
	owner, repo, ok := strings.Cut(name, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return target.Target{}, fmt.Errorf("%s lists repositories: name one as owner/repo", route.Pattern)
	}
	return repoTarget(owner, repo), nil
}

func repoTarget(owner, name string) target.Target {
	// A GET of the repository: anonymous users read a public one.
	return target.Target{Scope: target.Repository, Surface: target.REST, Access: target.Read,
		AnonReadable: true, Owner: owner, Name: name}
}

func orgTarget(login string) target.Target {
	// An organization in a list is organization data, not its public
	// profile: never anonymously readable.
	return target.Target{Scope: target.Organization, Surface: target.REST, Access: target.Read, Owner: login}
}

// elementOptions read an element the stream decoder has already checked.
var elementOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// namesOf reads what one element names. ok is false when it names nothing
// the route says it should.
func namesOf(k Kind, v jsontext.Value) ([]named, bool) {
	switch k {
	case Repo:
		n, ok := repoFacts(v)
		return []named{n}, ok
	case RepoField:
		r := field(v, "repository")
		if r == nil {
			return nil, false
		}
		n, ok := repoFacts(r)
		return []named{n}, ok
	case RepoURL:
		_, path, ok := strings.Cut(str(field(v, "repository_url")), "/repos/")
		owner, name, ok2 := strings.Cut(path, "/")
		if !ok || !ok2 || owner == "" || name == "" || strings.Contains(name, "/") {
			return nil, false
		}
		return []named{{target: repoTarget(owner, name)}}, true
	case Org:
		login := str(field(v, "login"))
		if login == "" {
			return nil, false
		}
		return []named{{target: orgTarget(login)}}, true
	case OrgField:
		login := str(field(field(v, "organization"), "login"))
		if login == "" {
			return nil, false
		}
		return []named{{target: orgTarget(login)}}, true
	case Event:
		owner, name, ok := strings.Cut(str(field(field(v, "repo"), "name")), "/")
		if !ok || owner == "" || name == "" {
			return nil, false
		}
		ns := []named{{target: repoTarget(owner, name)}}
		if login := str(field(field(v, "org"), "login")); login != "" {
			ns = append(ns, named{target: orgTarget(login)})
		}
		return ns, true
	}
	return nil, false
}

// boundedReader fails a read past MaxElement bytes (and the decoder's
// read-ahead) beyond the start of the current element, so that one huge
// element is refused instead of held.
type boundedReader struct {
	r     io.Reader
	n     int64 // bytes read so far
	limit int64
	total int64 // the whole answer's bound
}

// element marks the start of the next element (or member).
func (b *boundedReader) element() { b.limit = b.n + MaxElement + 64<<10 }

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n >= b.total {
		return 0, ErrTooLarge
	}
	if b.n >= b.limit {
		return 0, ErrElementTooBig
	}
	if rest := b.limit - b.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// spool keeps the filtered answer until its header is known: in memory up
// to memSpool, then in a temporary file.
type spool struct {
	buf  bytes.Buffer
	file *os.File
	n    int64
}

func (s *spool) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.file == nil && s.buf.Len()+len(p) <= memSpool {
		return s.buf.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "patgate-answer-")
		if err != nil {
			return 0, err
		}
		// Unlinked at once: the open file goes away with the process
		// whatever happens.
		os.Remove(f.Name())
		s.file = f
		if _, err := s.file.Write(s.buf.Bytes()); err != nil {
			return 0, err
		}
		s.buf = bytes.Buffer{}
	}
	return s.file.Write(p)
}

func (s *spool) writeTo(out io.Writer) error {
	if s.file == nil {
		_, err := out.Write(s.buf.Bytes())
		return err
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(out, s.file)
	return err
}

func (s *spool) Close() {
	if s.file != nil {
		s.file.Close()
	}
}
