package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/patgate/patgate/policyfeed"
	"github.com/patgate/patgate/tokenclass"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "pat-policy",
		Usage: "feed <fingerprint|sign|verify> ...",
		Short: "Tools for patgate's personal access token policy feed",
		Long: `
Tools for the policy feed of the pat_policy handler.

  caddy pat-policy feed fingerprint < token
      Reads a token on standard input and prints its fingerprint, the
      lowercase hex SHA-256 the feed names tokens by.

  caddy pat-policy feed sign --key signing-key.pem [--pss] [--expires-in 24h] feed.json
      Validates a feed and prints it as a JWS signed with the key (ECDSA
      P-256: ES256, Ed25519: EdDSA, RSA: RS256, or PS256 with --pss).

  caddy pat-policy feed verify --key feed-key.pem feed.jws
      Verifies a signed feed as the gateway would and prints its version
      and counts.

  caddy pat-policy explain --config Caddyfile --method GET --url URL
        (--token-fingerprint HEX [--token-class classic|fine_grained] | --token-stdin)
      Decides the request as the config's pat_policy handlers would, with
      their feed and lookups, and prints the decision and the facts behind it.

  caddy pat-policy requests [--org ORG] [--json] [--address localhost:2019]
      Lists the approval inbox of the running gateway: per organization, the
      tokens refused for approval or lifetime, whose they are, why, and when.
`,
		CobraFunc: func(cmd *cobra.Command) {
			feed := &cobra.Command{Use: "feed", Short: "Fingerprint tokens, sign and verify feeds"}
			feed.AddCommand(fingerprintCommand(), signCommand(), verifyCommand())
			cmd.AddCommand(feed, explainCommand(), requestsCommand())
		},
	})
}

func fingerprintCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "fingerprint",
		Short: "Print the fingerprint of the token read on standard input",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
			if err != nil {
				return err
			}
			tok := strings.TrimSpace(string(in))
			if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
				return fmt.Errorf("want one token on standard input")
			}
			fmt.Fprintln(cmd.OutOrStdout(), tokenclass.FingerprintOf(tok))
			return nil
		},
	}
}

func signCommand() *cobra.Command {
	var keyFile, out string
	var pss bool
	var expiresIn time.Duration
	c := &cobra.Command{
		Use:   "sign --key <signing-key.pem> [--pss] [--expires-in <duration>] [--out <feed.jws>] <feed.json>",
		Short: "Validate a feed and sign it as a JWS",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			key, err := policyfeed.ParsePrivateKey(keyPEM)
			if err != nil {
				return err
			}
			feed, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if expiresIn > 0 {
				if feed, err = withExp(feed, time.Now().Add(expiresIn)); err != nil {
					return err
				}
			}
			// Refuse to sign what the gateway would reject.
			if _, err := policyfeed.Parse(feed); err != nil {
				return err
			}
			jws, err := policyfeed.Sign(feed, key, pss)
			if err != nil {
				return err
			}
			if out == "" {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(jws))
				return err
			}
			return os.WriteFile(out, append(jws, '\n'), 0o644)
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "PEM private key (PKCS#8, PKCS#1 or SEC 1)")
	c.Flags().BoolVar(&pss, "pss", false, "sign RSA keys with PS256 instead of RS256")
	c.Flags().DurationVar(&expiresIn, "expires-in", 0, "add an exp claim this far in the future")
	c.Flags().StringVar(&out, "out", "", "write the JWS here instead of standard output")
	_ = c.MarkFlagRequired("key")
	return c
}

func explainCommand() *cobra.Command {
	var q explainRequest
	var cfg, adapter string
	var tokenStdin bool
	c := &cobra.Command{
		Use:   "explain --config <file> --url <url> [--method GET] [--element <owner/repo|org>] (--token-fingerprint <hex> [--token-class <class>] | --token-stdin)",
		Short: "Explain the decision for a request",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tokenStdin {
				in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				q.Token = strings.TrimSpace(string(in))
			}
			out, err := explainFromConfig(cmd.Context(), cfg, adapter, q)
			if err != nil {
				return err
			}
			for i, e := range out {
				if len(out) > 1 {
					fmt.Fprintf(cmd.OutOrStdout(), "handler %d (feed %s):\n", i+1, e.Feed)
				}
				for _, l := range e.Lines {
					fmt.Fprintln(cmd.OutOrStdout(), l)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&cfg, "config", "", "the gateway's config file")
	c.Flags().StringVar(&adapter, "adapter", "", "config adapter (default: caddyfile for a Caddyfile)")
	c.Flags().StringVar(&q.Method, "method", "GET", "the request's method")
	c.Flags().StringVar(&q.URL, "url", "", "the request's URL, as the client sends it")
	c.Flags().StringVar(&q.TokenFingerprint, "token-fingerprint", "", "the token's fingerprint (caddy pat-policy feed fingerprint)")
	c.Flags().StringVar(&q.TokenClass, "token-class", "", "classic or fine_grained, for a fingerprint the feed does not list")
	c.Flags().StringVar(&q.ClientIP, "client-ip", "", "the client's address, for IP allow lists (without it no list admits the request)")
	c.Flags().StringVar(&q.Element, "element", "", "for a URL whose answer lists several owners (/user/repos, search, …): would this element (owner/repo, or an organization's login) stay in it?")
	c.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the token itself on standard input")
	_ = c.MarkFlagRequired("config")
	_ = c.MarkFlagRequired("url")
	return c
}

// withExp adds an exp claim to the feed's top-level object.
func withExp(feed []byte, exp time.Time) ([]byte, error) {
	t := bytes.TrimSpace(feed)
	if len(t) < 2 || t[0] != '{' {
		return nil, fmt.Errorf("the feed is not a JSON object")
	}
	rest := bytes.TrimSpace(t[1:])
	sep := ", "
	if len(rest) > 0 && rest[0] == '}' {
		sep = ""
	}
	return []byte(`{"exp": ` + strconv.FormatInt(exp.Unix(), 10) + sep + string(rest)), nil
}

func verifyCommand() *cobra.Command {
	var keyFile string
	c := &cobra.Command{
		Use:   "verify --key <feed-key.pem> <feed.jws>",
		Short: "Verify a signed feed as the gateway would",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			v, err := policyfeed.NewVerifier(keyPEM)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			p, err := policyfeed.Load(data, v)
			if err != nil {
				return err
			}
			orgs, tokens := p.Counts()
			fmt.Fprintf(cmd.OutOrStdout(), "valid: version %d, %d organizations, %d tokens, signed with %s\n",
				p.Version(), orgs, tokens, jwsAlg(data))
			return nil
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "PEM public key the gateway's feed_key names")
	_ = c.MarkFlagRequired("key")
	return c
}

// jwsAlg reads the algorithm from a verified JWS's header.
func jwsAlg(data []byte) string {
	head, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte("."))
	raw, err := base64.RawURLEncoding.DecodeString(string(head))
	if err != nil {
		return "?"
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return "?"
	}
	return h.Alg
}

func requestsCommand() *cobra.Command {
	var org, address, cfg, adapter string
	var asJSON bool
	c := &cobra.Command{
		Use:   "requests [--org <organization>] [--json] [--address <admin address>] [--config <file>]",
		Short: "List the tokens waiting for approval (the approval inbox)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, cfg, adapter)
			if err != nil {
				return err
			}
			uri := "/pat-policy/requests"
			if org != "" {
				uri += "?organization=" + url.QueryEscape(org)
			}
			resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, uri, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var out requestsAnswer
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				return fmt.Errorf("the admin API's answer: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return writeInbox(cmd.OutOrStdout(), out, time.Now())
		},
	}
	c.Flags().StringVar(&org, "org", "", "only this organization")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	c.Flags().StringVar(&address, "address", "", "the admin API's address (default: from --config, else localhost:2019)")
	c.Flags().StringVar(&cfg, "config", "", "the gateway's config file, to find the admin address")
	c.Flags().StringVar(&adapter, "adapter", "", "config adapter (default: caddyfile for a Caddyfile)")
	return c
}

// writeInbox prints the inbox as a table a person reads at a glance.
func writeInbox(w io.Writer, out requestsAnswer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORGANIZATION\tTOKEN\tCLASS\tOWNER\tREASON\tREQUESTS\tFIRST SEEN\tLAST SEEN")
	for _, e := range out.Entries {
		owner := e.Owner
		if owner == "" {
			owner = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Organization, e.Token, e.TokenClass, owner,
			e.Reason, e.Requests, ago(now, e.FirstSeen), ago(now, e.LastSeen))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out.Entries) == 0 {
		fmt.Fprintln(w, "(no refused tokens)")
	}
	_, err := fmt.Fprintf(w, "inbox: %s\n", strings.Join(out.Stores, ", "))
	return err
}

// ago says how long ago t was, to the unit a person needs.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.UTC().Format("2006-01-02")
}
