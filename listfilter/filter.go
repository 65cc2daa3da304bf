package listfilter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/valyala/fastjson"

	"github.com/patgate/patgate/answerbody"
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
	ErrNotJSON       = answerbody.ErrNotJSON
	ErrElementTooBig = fmt.Errorf("an element of the answer is larger than %d bytes", MaxElement)
	ErrEncoding      = answerbody.ErrEncoding
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

	answerbody.Tally
	mu        sync.Mutex
	decisions map[string]Verdict // per owner/name or org, within this answer
}

// Check filters the answer. Redirects, 304s and errors carry no list and
// pass untouched; a 200 must be the route's JSON, and any other success
// (a 206 range of the list) is refused: those are errors, which the
// handler answers with 502.
func (f *Filter) Check(ctx context.Context, status int, h http.Header, body io.Reader, out io.Writer) error {
	return answerbody.Read(status, h, body, out, func(body io.Reader) error {
		return f.check(ctx, h, body, out)
	})
}

func (f *Filter) check(ctx context.Context, h http.Header, body io.Reader, out io.Writer) error {
	sp := &spool{}
	if b, ok := spoolBufs.Get().(*bytes.Buffer); ok {
		sp.buf = b
	} else {
		sp.buf = new(bytes.Buffer)
	}
	defer sp.Close()
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n > 0 && n <= memSpool {
		// What stays is at most what came.
		sp.buf.Grow(int(n))
	}
	if err := f.filter(ctx, body, sp); err != nil {
		return err
	}
	f.Mark(h, sp.n)
	return sp.writeTo(out)
}

// Held is a body whose bytes are all in memory (the handler holds small
// answers whole): the filter reads them where they lie instead of
// copying them into its own buffer. The filter never changes them.
type Held interface {
	io.Reader
	Held() []byte
}

// filter reads the answer and writes what stays.
func (f *Filter) filter(ctx context.Context, body io.Reader, w io.Writer) error {
	fr := &frames{r: body, total: MaxAnswer}
	if f.MaxAnswer > 0 {
		fr.total = f.MaxAnswer
	}
	pooled := false
	if h, ok := body.(Held); ok && int64(len(h.Held())) <= fr.total {
		// The whole answer is in memory already: frame it where it lies.
		fr.buf, fr.eof, fr.n = h.Held(), true, int64(len(h.Held()))
	} else if b, ok := frameBufs.Get().(*[]byte); ok {
		fr.buf, pooled = (*b)[:0], true
	}
	p := parsers.Get()
	defer func() {
		parsers.Put(p)
		if pooled && cap(fr.buf) <= memSpool {
			b := fr.buf[:0]
			frameBufs.Put(&b)
		}
	}()
	var err error
	switch {
	case fr.eof && fr.pos == 0:
		// Held whole: one parse of the answer validates it all at once
		// and gives every element, with no second pass to cut them out.
		err = f.whole(ctx, fr, p, w)
		if err == nil {
			return nil
		}
	case f.Route.Container == Array:
		err = f.array(ctx, &streamed{fr: fr, parser: p, kind: f.Route.Kind}, w)
	default:
		err = f.object(ctx, fr, p, w)
	}
	if err == nil {
		if _, err = fr.peek(); err == io.EOF {
			return nil
		} else if err == nil {
			err = errors.New("data after the JSON value")
		}
	}
	switch {
	case errors.Is(err, ErrElementTooBig):
		return ErrElementTooBig
	case errors.Is(err, ErrTooLarge):
		return ErrTooLarge
	}
	return fmt.Errorf("%w: %w", ErrNotJSON, err)
}

// Reused between answers: the frame buffer (answers up to memSpool keep
// theirs) and the element parser.
var (
	frameBufs sync.Pool
	parsers   fastjson.ParserPool
)

// objectOut writes a search-like answer's object as its members come,
// in either reading: the list filtered, every other member as it came, and
// incomplete_results kept for the end, where it is true once an element
// was removed (GitHub's order puts it first, but it is known only at the
// end).
type objectOut struct {
	w              io.Writer
	f              *Filter
	list           string
	first, sawList bool
	incomplete     []byte
}

// Kinds of a search answer's members.
const (
	otherMember = iota
	listMember
	incompleteMember
)

func (f *Filter) objectOut(w io.Writer) *objectOut {
	list := "items"
	if f.Route.Container == Repositories {
		list = "repositories"
	}
	io.WriteString(w, "{")
	return &objectOut{w: w, f: f, list: list, first: true}
}

// kind says what the member of this (unescaped) name is.
func (o *objectOut) kind(name []byte) int {
	switch {
	case string(name) == o.list:
		o.sawList = true
		return listMember
	case string(name) == "incomplete_results" && o.f.Route.Container == Items:
		return incompleteMember
	}
	return otherMember
}

// member writes a member's name, quoted.
func (o *objectOut) member(quoted []byte) {
	if !o.first {
		io.WriteString(o.w, ",")
	}
	o.first = false
	o.w.Write(quoted)
	io.WriteString(o.w, ":")
}

// close writes incomplete_results and ends the object.
func (o *objectOut) close() error {
	if !o.sawList {
		return fmt.Errorf("no %q in the answer", o.list)
	}
	removed, _ := o.f.Removed()
	if o.f.Route.Container == Items && (o.incomplete != nil || removed > 0) {
		o.member([]byte(`"incomplete_results"`))
		if removed > 0 {
			io.WriteString(o.w, "true")
		} else {
			o.w.Write(o.incomplete)
		}
	}
	_, err := io.WriteString(o.w, "}")
	return err
}

// object copies a streamed search-like answer member by member, filtering
// its element array.
func (f *Filter) object(ctx context.Context, fr *frames, p *fastjson.Parser, w io.Writer) error {
	if err := fr.expect('{'); err != nil {
		return err
	}
	out := f.objectOut(w)
	for i := 0; ; i++ {
		c, err := fr.peek()
		if err != nil {
			return noEOF(err)
		}
		if c == '}' {
			fr.pos++
			break
		}
		if i > 0 {
			if err := fr.expect(','); err != nil {
				return err
			}
		}
		raw, err := fr.value()
		if err != nil {
			return err
		}
		kv, err := fr.parse(p, raw)
		if err != nil {
			return err
		}
		name, err := kv.StringBytes()
		if err != nil {
			return errors.New("a member's name is not a string")
		}
		// name lies in the parser's memory, which the value's parse
		// reuses: what it is, is settled now.
		kind := out.kind(name)
		key := bytes.Clone(raw)
		if err := fr.expect(':'); err != nil {
			return err
		}
		if kind == listMember {
			out.member(key)
			if err := f.array(ctx, &streamed{fr: fr, parser: p, kind: f.Route.Kind}, w); err != nil {
				return err
			}
			continue
		}
		v, err := fr.value()
		if err != nil {
			return err
		}
		if _, err := fr.parse(p, v); err != nil {
			return err
		}
		if kind == incompleteMember {
			out.incomplete = bytes.Clone(v)
			continue
		}
		out.member(key)
		w.Write(v)
	}
	return out.close()
}

// whole filters an answer held whole: parsed at once, the list's
// elements taken from the parsed answer, the other members of a search
// answer written as they were parsed.
func (f *Filter) whole(ctx context.Context, fr *frames, p *fastjson.Parser, w io.Writer) error {
	v, err := fr.parse(p, fr.buf)
	if err != nil {
		return err
	}
	if f.Route.Container == Array {
		items, err := v.Array()
		if err != nil {
			return errors.New("not a JSON array")
		}
		return f.array(ctx, newParsed(fr.buf, v, items, f.Route.Kind), w)
	}
	o, err := v.Object()
	if err != nil {
		return errors.New("not a JSON object")
	}
	out := f.objectOut(w)
	var buf []byte
	var verr error
	o.Visit(func(key []byte, m *fastjson.Value) {
		if verr != nil {
			return
		}
		kind := out.kind(key)
		if kind == incompleteMember {
			out.incomplete = m.MarshalTo(nil)
			return
		}
		buf, _ = jsontext.AppendQuote(buf[:0], string(key))
		out.member(buf)
		if kind == listMember {
			items, err := m.Array()
			if err != nil {
				verr = errors.New("the list is not a JSON array")
				return
			}
			verr = f.array(ctx, newParsed(fr.buf, v, items, f.Route.Kind), w)
			return
		}
		buf = m.MarshalTo(buf[:0])
		w.Write(buf)
	})
	if verr != nil {
		return verr
	}
	return out.close()
}

// noEOF turns the end of the answer inside a value into an error.
func noEOF(err error) error {
	if err == io.EOF {
		return errTruncated
	}
	return err
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
func (f *Filter) array(ctx context.Context, src elements, w io.Writer) error {
	io.WriteString(w, "[")
	first := true
	emit := func(p *pending) error {
		if !p.keep {
			f.Remove(p.reason)
			f.Owner(p.owner)
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
	var m members
	for {
		v, err := src.next(&m)
		if err != nil {
			return err
		}
		if v == nil {
			break
		}
		names, ok := namesOf(f.Route.Kind, &m)
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
	io.WriteString(w, "]")
	return nil
}

// elements gives the elements of an answer's list, one at a time: each
// one's bytes as they go out (valid until the next call; nil ends the
// list), and in m the members its route reads.
type elements interface {
	next(m *members) ([]byte, error)
}

// streamed are the elements of a list as they arrive: each cut from the
// stream and parsed on its own.
type streamed struct {
	fr      *frames
	parser  *fastjson.Parser
	kind    Kind
	started bool
	n       int
}

func (s *streamed) next(m *members) ([]byte, error) {
	if !s.started {
		s.started = true
		if err := s.fr.expect('['); err != nil {
			return nil, err
		}
	}
	c, err := s.fr.peek()
	if err != nil {
		return nil, noEOF(err)
	}
	if c == ']' {
		s.fr.pos++
		return nil, nil
	}
	if s.n > 0 {
		if err := s.fr.expect(','); err != nil {
			return nil, err
		}
	}
	s.n++
	v, err := s.fr.value()
	if err != nil {
		return nil, err
	}
	el, err := s.fr.parse(s.parser, v)
	if err != nil {
		return nil, err
	}
	m.read(s.kind, el)
	return v, nil
}

// parsed are the elements of a list parsed whole with the answer (a held
// one). In an answer without a backslash, every element's members are
// read up front, in the one pass over them that also finds where spans
// places it, and a placed element goes out as the upstream's bytes.
// Otherwise each element is marshalled as it was parsed, before its
// members are read (reading unescapes in place), so its bytes are the
// upstream's without white space between tokens.
type parsed struct {
	items   []*fastjson.Value
	kind    Kind
	held    []byte
	read    []members // when read up front
	spans   [][2]int  // where read up front: each element's, {0, 0} if not placed
	scratch []byte
}

func newParsed(held []byte, top *fastjson.Value, items []*fastjson.Value, kind Kind) *parsed {
	s := &parsed{items: items, kind: kind, held: held}
	if len(items) == 0 || bytes.IndexByte(held, '\\') >= 0 {
		return s
	}
	s.read = make([]members, len(items))
	firsts := make([][]byte, len(items))
	for i, el := range items {
		firsts[i] = s.read[i].read(kind, el)
	}
	s.spans = spans(held, top, firsts, make([][2]int, 0, len(items)))
	return s
}

func (s *parsed) next(m *members) ([]byte, error) {
	if len(s.items) == 0 {
		return nil, nil
	}
	el := s.items[0]
	s.items = s.items[1:]
	if s.read == nil {
		s.scratch = el.MarshalTo(s.scratch[:0])
		m.read(s.kind, el)
		return s.scratch, s.bound(s.scratch)
	}
	*m, s.read = s.read[0], s.read[1:]
	sp := s.spans[0]
	s.spans = s.spans[1:]
	if sp[1] > 0 {
		return s.held[sp[0]:sp[1]], s.bound(s.held[sp[0]:sp[1]])
	}
	// Not placed: in an answer without escapes, marshalling after reading
	// gives the same bytes.
	s.scratch = el.MarshalTo(s.scratch[:0])
	return s.scratch, s.bound(s.scratch)
}

func (s *parsed) bound(b []byte) error {
	if len(b) > MaxElement {
		return ErrElementTooBig
	}
	return nil
}

// closed is a done channel for elements decided at once.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// settled reports whether every name can be decided without a lookup:
// the element carries its facts, or this answer decided the name before.
func (f *Filter) settled(names []named) bool {
	for _, n := range names {
		if n.res.Known || n.target.Scope != target.Repository {
			continue
		}
		f.mu.Lock()
		_, ok := f.decisions[decisionKey(n)]
		f.mu.Unlock()
		if !ok {
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

// decide decides one name, once per answer when its facts are looked up.
// It may run in several goroutines at once.
func (f *Filter) decide(ctx context.Context, n named) Verdict {
	if n.res.Known {
		// The element gave its facts: the decision is pure and cheap.
		return f.Decide(ctx, n.target, n.res)
	}
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

// spool keeps the filtered answer until its header is known: in memory up
// to memSpool, then in a temporary file.
type spool struct {
	buf  *bytes.Buffer
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
		s.buf.Reset()
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
	if s.buf != nil && s.buf.Cap() <= memSpool {
		s.buf.Reset()
		spoolBufs.Put(s.buf)
	}
	s.buf = nil
}

// spoolBufs keeps the memory spools of past answers: a page of GitHub's
// is 150 KB, which would otherwise be allocated and cleared for each.
var spoolBufs sync.Pool
