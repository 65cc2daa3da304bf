package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"go.uber.org/zap"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/gate"
	"github.com/patgate/patgate/listfilter"
	"github.com/patgate/patgate/target"
	"github.com/patgate/patgate/tokenclass"
)

// explainRequest is what to explain: a request as a client would send it,
// and its token, or only the token's fingerprint and class.
type explainRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Token is the raw token; optional. With it the class is known and the
	// owner can be learned from the host.
	Token string `json:"token,omitempty"`
	// TokenFingerprint names the token without revealing it.
	TokenFingerprint string `json:"token_fingerprint,omitempty"`
	// TokenClass is "fine_grained" or "classic" for a fingerprint; default
	// fine_grained when the feed lists the fingerprint.
	TokenClass string `json:"token_class,omitempty"`
	// Element, for a URL whose answer lists several owners' resources
	// (/user/repos, search, …), names one element ("owner/repo", or an
	// organization's login): would the token see it in that answer?
	Element string `json:"element,omitempty"`
	// ClientIP is the address to check IP allow lists against (SPEC §9);
	// without it no list admits the request.
	ClientIP string `json:"client_ip,omitempty"`
}

// explanation is one handler's answer.
type explanation struct {
	Feed     string   `json:"feed"`
	Decision string   `json:"decision"`
	Reason   string   `json:"reason"`
	Message  string   `json:"message,omitempty"`
	Lines    []string `json:"lines"`
}

// explain decides a request with the gate, as ServeHTTP does, lookups
// included, and returns the chain of facts behind the decision and the
// record of what the handler would do with it. It changes nothing.
func (h *Handler) explain(ctx context.Context, q explainRequest) (_ enforce.Explanation, _ gate.Record, element string, _ error) {
	var rec gate.Record
	if q.Method == "" {
		q.Method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, q.Method, q.URL, nil)
	if err != nil {
		return enforce.Explanation{}, rec, "", fmt.Errorf("url: %w", err)
	}
	pol := h.store.Load()
	var tok enforce.Token
	switch {
	case q.Token != "":
		tok = enforce.Token{Class: tokenclass.Classify(q.Token), Fingerprint: tokenclass.FingerprintOf(q.Token)}
	case q.TokenFingerprint != "":
		fp, err := tokenclass.ParseFingerprint(q.TokenFingerprint)
		if err != nil {
			return enforce.Explanation{}, rec, "", err
		}
		tok.Fingerprint = fp
		switch q.TokenClass {
		case "classic":
			tok.Class = tokenclass.Classic
		case "fine_grained":
			tok.Class = tokenclass.FineGrained
		case "":
			if pol == nil || pol.Token(fp) == nil {
				return enforce.Explanation{}, rec, "", errors.New("the feed does not list this fingerprint: give its class (classic or fine_grained)")
			}
			tok.Class = tokenclass.FineGrained
		default:
			return enforce.Explanation{}, rec, "", fmt.Errorf("token class %q: want classic or fine_grained", q.TokenClass)
		}
	default:
		return enforce.Explanation{}, rec, "", errors.New("give a token or a token fingerprint")
	}
	// The request's own facts, as the gate sets them for a real one.
	tok.Now, tok.Host = time.Now().Unix(), req.URL.Host
	if q.ClientIP != "" {
		if tok.Addr, err = netip.ParseAddr(q.ClientIP); err != nil {
			return enforce.Explanation{}, rec, "", fmt.Errorf("client_ip: %q is not an address", q.ClientIP)
		}
	}
	tgt, err := h.resolver.Resolve(req)
	if err != nil {
		return enforce.Explanation{}, rec, "", err
	}
	if q.Element != "" {
		// Would this element stay in the answer? Decided as the answer
		// check decides it: a read of what it names.
		rest, _ := h.resolver.RESTPath(req.URL.Path)
		route := listfilter.Match(req.Method, rest)
		if route == nil {
			return enforce.Explanation{}, rec, "", fmt.Errorf("%s %s does not list several owners' resources: its answer is not checked element by element", req.Method, req.URL.Path)
		}
		if tgt, err = listfilter.ElementTarget(route, q.Element); err != nil {
			return enforce.Explanation{}, rec, "", err
		}
		element = route.Pattern
	}
	if tgt.BodyDecides {
		// An LFS batch's operation is in its body, which explain does not
		// have: explain the stricter case.
		tgt.Access, tgt.BodyDecides = target.Write, false
	}
	rec = gate.Record{Policy: pol, Token: tok, Lookup: "none"}
	h.gate.Decide(ctx, &rec, q.Token, tgt)
	e := enforce.Explain(pol, rec.Token, rec.Target, rec.Resource)
	if rec.LookupErr != nil {
		// The decision could not be completed: say so, and why.
		e.Decision = rec.Decision
		e.LookupError = rec.LookupErr.Error()
	}
	return e, rec, element, nil
}

func (h *Handler) explainJSON(ctx context.Context, q explainRequest) explanation {
	out := explanation{Feed: h.feed.source}
	e, rec, element, err := h.explain(ctx, q)
	if err != nil {
		out.Decision, out.Lines = "error", []string{err.Error()}
		return out
	}
	d := e.Decision
	out.Decision, out.Reason, out.Message, out.Lines = d.Outcome.String(), d.Reason.String(), d.Message(), e.Lines()
	if element != "" {
		verdict := "stays in"
		if rec.Action != gate.Forward {
			verdict = "is removed from"
		}
		out.Lines = append(out.Lines, fmt.Sprintf("element: %s %s the answer of GET %s", q.Element, verdict, element))
	}
	switch {
	case rec.Waived:
		out.Decision = "would_" + out.Decision
		out.Lines = append(out.Lines, "mode: report (forwarded, logged as would_"+d.Outcome.String()+")")
	case rec.Action == gate.Forward && d.Outcome != enforce.Allow:
		out.Lines = append(out.Lines, "fail_open: the lookup failed as an outage, so the handler forwards the request unchecked")
	case d.Reason == enforce.ReasonLookupFailed:
		out.Lines = append(out.Lines, "the lookup failed: the handler answers 503 (fail_open is off)")
	case d.Reason == enforce.ReasonUndetermined && e.LookupError != "":
		out.Lines = append(out.Lines, "the host refused the lookup: the request provoked it, so it is refused even under fail_open")
	}
	return out
}

// handlersInConfig finds every pat_policy handler in a JSON config, wherever
// its routes nest it.
func handlersInConfig(cfg []byte) ([]*Handler, error) {
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		return nil, err
	}
	var found []*Handler
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "pat_policy" {
				raw, err := json.Marshal(v)
				if err != nil {
					return err
				}
				h := new(Handler)
				if err := json.Unmarshal(raw, h); err != nil {
					return fmt.Errorf("pat_policy config: %w", err)
				}
				found = append(found, h)
				return nil
			}
			for _, c := range v {
				if err := walk(c); err != nil {
					return err
				}
			}
		case []any:
			for _, c := range v {
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return found, nil
}

// explainFromConfig builds the handlers of a config file without running a
// server and explains the request with each.
func explainFromConfig(ctx context.Context, cfgFile, adapter string, q explainRequest) ([]explanation, error) {
	cfg, _, _, err := caddycmd.LoadConfig(cfgFile, adapter)
	if err != nil {
		return nil, err
	}
	handlers, err := handlersInConfig(cfg)
	if err != nil {
		return nil, err
	}
	if len(handlers) == 0 {
		return nil, fmt.Errorf("%s has no pat_policy handler", cfgFile)
	}
	var out []explanation
	for _, h := range handlers {
		if err := h.Validate(); err != nil {
			return nil, err
		}
		if err := h.prepare(zap.NewNop()); err != nil {
			return nil, err
		}
		out = append(out, h.explainJSON(ctx, q))
		_ = h.Cleanup()
	}
	return out, nil
}
