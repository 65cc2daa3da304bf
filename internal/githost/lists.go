package githost

// The REST routes whose answers gather several owners (SPEC §10), answered
// the way GitHub does from the host's own tables, so tests can see which
// elements a gateway removed. Answers are generated element by element and
// streamed: a page of any length or element size takes a few buffers of
// memory.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ListGzip says when the list routes answer gzip-encoded.
type ListGzip int

const (
	// ListGzipOff answers with identity encoding (the default).
	ListGzipOff ListGzip = iota
	// ListGzipWhenAsked answers gzip-encoded when the request's
	// Accept-Encoding allows gzip, as GitHub does.
	ListGzipWhenAsked
	// ListGzipAlways answers gzip-encoded even when the request did not ask
	// for it (or refused it): a misbehaving upstream.
	ListGzipAlways
)

// SetListGzip chooses when the list routes answer gzip-encoded.
func (h *Host) SetListGzip(mode ListGzip) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listGzip = mode
}

// SetListTruncated makes the list routes answer with the JSON cut off
// halfway through the body (still 200 with Content-Type application/json,
// and a Content-Length that matches what is sent when not compressed).
func (h *Host) SetListTruncated(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listTruncated = on
}

// SetListPadding makes every element of the list routes exactly n bytes
// larger (n ≤ 0: no padding). The bytes are added to one string of each
// element: the description of its repository object where it carries one
// (repositories, issues, notifications, code and commit search), else the
// issue's body (issue search), the organization's description
// (organizations, memberships), the team's description (teams) or the
// first commit message of the push (events).
func (h *Host) SetListPadding(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listPadding = max(n, 0)
}

// SetListCount makes every list page hold n elements, going round the
// table (sorted) as often as needed; n ≤ 0 gives one element per table
// entry (the default). Pages are streamed, however large.
func (h *Host) SetListCount(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listCount = max(n, 0)
}

// RepoNames returns the full names ("owner/name", lowercase) of the
// repositories in the table, sorted: the order of the list answers.
func (h *Host) RepoNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.repos))
	for k := range h.repos {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// listKind is what a list route answers.
type listKind int

const (
	kindRepos             listKind = iota + 1 // array of repositories
	kindSearchRepos                           // items: repositories
	kindInstallationRepos                     // repositories: repositories
	kindIssues                                // array of issues with repository
	kindNotifications                         // array of threads with a minimal repository
	kindSearchCode                            // items with a minimal repository
	kindSearchCommits                         // items with a minimal repository
	kindSearchIssues                          // items with repository_url
	kindOrgs                                  // array of organizations
	kindMemberships                           // array of memberships with organization
	kindTeams                                 // array of teams with organization
	kindEvents                                // array of events with repo (and org)
)

// perOrg reports whether the kind has one element per organization rather
// than per repository.
func (k listKind) perOrg() bool { return k == kindOrgs || k == kindMemberships || k == kindTeams }

// listRoute maps a path under the API prefix to the list it answers.
func listRoute(p string) (listKind, bool) {
	// Like Rails, a format suffix names the same route: /user/repos.json.
	p = strings.TrimSuffix(p, ".json")
	switch p {
	case "/user/repos", "/user/starred", "/user/subscriptions", "/repositories":
		return kindRepos, true
	case "/search/repositories":
		return kindSearchRepos, true
	case "/issues", "/user/issues":
		return kindIssues, true
	case "/notifications":
		return kindNotifications, true
	case "/search/code":
		return kindSearchCode, true
	case "/search/commits":
		return kindSearchCommits, true
	case "/search/issues":
		return kindSearchIssues, true
	case "/user/orgs":
		return kindOrgs, true
	case "/user/memberships/orgs":
		return kindMemberships, true
	case "/user/teams":
		return kindTeams, true
	case "/events":
		return kindEvents, true
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for _, s := range parts {
		if s == "" {
			return 0, false
		}
	}
	switch {
	case len(parts) == 3 && parts[0] == "users":
		switch parts[2] {
		case "repos", "starred", "subscriptions":
			return kindRepos, true
		case "orgs":
			return kindOrgs, true
		case "events", "received_events":
			return kindEvents, true
		}
	case len(parts) == 4 && parts[0] == "users" && parts[2] == "events" && parts[3] == "public":
		return kindEvents, true
	case len(parts) == 4 && parts[0] == "user" && parts[1] == "installations" && parts[3] == "repositories":
		return kindInstallationRepos, true
	}
	return 0, false
}

// padMark stands, in a rendered element, where its padding goes: the end
// of the one padded string.
const padMark = "~~githost-pad~~"

// filler is what padding is made of (plain ASCII, nothing JSON escapes).
var filler = func() []byte {
	const s = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. "
	return bytes.Repeat([]byte(s), 8192/len(s)+1)[:8192]
}()

// listCacheKey names a set of rendered elements; gen changes with the
// tables.
type listCacheKey struct {
	kind  listKind
	host  string
	login string
	gen   int64
}

// tableRepo is a snapshot of one table entry.
type tableRepo struct {
	owner, name string
	Repo
}

var requestSeq atomic.Int64

// errCut stops the generation of a truncated answer.
var errCut = errors.New("githost: answer cut off")

// cutWriter passes the first left bytes and refuses the rest.
type cutWriter struct {
	w    io.Writer
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.left {
		n, err := c.w.Write(p[:c.left])
		c.left -= int64(n)
		if err == nil {
			err = errCut
		}
		return n, err
	}
	n, err := c.w.Write(p)
	c.left -= int64(n)
	return n, err
}

// lastModified is the Last-Modified of every list answer.
var lastModified = time.Date(2024, time.March, 4, 12, 0, 0, 0, time.UTC)

// serveList answers a list route (GET or HEAD) from the tables.
func (h *Host) serveList(w http.ResponseWriter, r *http.Request, kind listKind, p, auth string) {
	h.mu.Lock()
	mode, truncated, padding, count, gen := h.listGzip, h.listTruncated, h.listPadding, h.listCount, h.gen
	login := h.users[strings.TrimPrefix(strings.TrimPrefix(auth, "token "), "Bearer ")]
	h.mu.Unlock()
	if login == "" {
		login = "octocat"
	}
	host := r.Host
	if host == "" {
		host = "github.example"
	}
	els := h.listElements(listCacheKey{kind: kind, host: host, login: login, gen: gen})
	n := count
	if n == 0 || len(els) == 0 {
		n = len(els)
	}
	prefix, suffix := envelope(kind, n)
	total := int64(len(prefix) + len(suffix))
	if n > 1 {
		total += int64(n - 1)
	}
	for i := range n {
		total += paddedLen(els[i%len(els)], padding)
	}
	limit := total
	if truncated {
		limit = total / 2
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("X-GitHub-Media-Type", "github.v3; format=json")
	hd.Set("X-GitHub-Request-Id", fmt.Sprintf("C0DE:%04X:%06X:%06X:%08X", 0x1A2B, requestSeq.Add(1), 0xBEEF, time.Now().Unix()&0xFFFFFFFF))
	hd.Set("Cache-Control", "private, max-age=60, s-maxage=60")
	hd.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding")
	hd.Set("ETag", fmt.Sprintf(`W/"%s"`, SHA(fmt.Sprintf("%d|%s|%s|%s|%d|%d|%v|%d", kind, p, host, login, padding, n, truncated, gen))[:40]))
	hd.Set("Last-Modified", lastModified.Format(http.TimeFormat))
	api := "https://" + host + "/api/v3" + p
	hd.Set("Link", fmt.Sprintf(`<%s?page=2>; rel="next", <%s?page=5>; rel="last"`, api, api))
	hd.Set("X-RateLimit-Limit", "5000")
	hd.Set("X-RateLimit-Remaining", "4999")
	hd.Set("X-RateLimit-Used", "1")
	if strings.HasPrefix(p, "/search/") {
		hd.Set("X-RateLimit-Resource", "search")
	} else {
		hd.Set("X-RateLimit-Resource", "core")
	}
	gz := mode == ListGzipAlways || mode == ListGzipWhenAsked && acceptsGzip(r.Header.Values("Accept-Encoding"))
	if gz {
		hd.Set("Content-Encoding", "gzip")
	} else {
		hd.Set("Content-Length", strconv.FormatInt(limit, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	var out io.Writer = w
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(w)
		out = zw
	}
	bw := bufio.NewWriterSize(out, 32<<10)
	_ = writeList(&cutWriter{w: bw, left: limit}, prefix, suffix, els, n, padding)
	_ = bw.Flush()
	if zw != nil {
		_ = zw.Close()
	}
}

// writeList writes the envelope's prefix, n elements (going round els) and
// the suffix.
func writeList(w io.Writer, prefix, suffix string, els [][]byte, n, padding int) error {
	if _, err := io.WriteString(w, prefix); err != nil {
		return err
	}
	for i := range n {
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		if err := writePadded(w, els[i%len(els)], padding); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, suffix)
	return err
}

// writePadded writes a rendered element with padding bytes where its mark
// is.
func writePadded(w io.Writer, el []byte, padding int) error {
	for {
		i := bytes.Index(el, []byte(padMark))
		if i < 0 {
			_, err := w.Write(el)
			return err
		}
		if _, err := w.Write(el[:i]); err != nil {
			return err
		}
		for left := padding; left > 0; {
			chunk := filler[:min(left, len(filler))]
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			left -= len(chunk)
		}
		el = el[i+len(padMark):]
	}
}

func paddedLen(el []byte, padding int) int64 {
	k := bytes.Count(el, []byte(padMark))
	return int64(len(el) + k*(padding-len(padMark)))
}

// envelope is what goes around the elements.
func envelope(kind listKind, n int) (prefix, suffix string) {
	switch kind {
	case kindSearchRepos, kindSearchCode, kindSearchCommits, kindSearchIssues:
		return fmt.Sprintf(`{"total_count":%d,"incomplete_results":false,"items":[`, n), "]}"
	case kindInstallationRepos:
		return fmt.Sprintf(`{"total_count":%d,"repository_selection":"all","repositories":[`, n), "]}"
	}
	return "[", "]"
}

// acceptsGzip reports whether Accept-Encoding values allow gzip.
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			q := 1.0
			for _, param := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			switch name {
			case "gzip", "x-gzip":
				return q > 0
			case "*":
				star = q > 0
			}
		}
	}
	return star
}

// listElements returns the rendered elements of a list (padding marks in
// place), from the cache when the tables have not changed.
func (h *Host) listElements(key listCacheKey) [][]byte {
	h.mu.Lock()
	if els, ok := h.listCache[key]; ok {
		h.mu.Unlock()
		return els
	}
	repos := make([]tableRepo, 0, len(h.repos))
	for k, r := range h.repos {
		owner, name, _ := strings.Cut(k, "/")
		repos = append(repos, tableRepo{owner: owner, name: name, Repo: r})
	}
	orgIDs := map[string]int64{}
	for id, login := range h.orgIDs {
		orgIDs[strings.ToLower(login)] = id
	}
	teamIDs := map[string]int64{}
	for id, org := range h.teams {
		o := strings.ToLower(org)
		if old, ok := teamIDs[o]; !ok || id < old {
			teamIDs[o] = id
		}
	}
	h.mu.Unlock()
	sort.Slice(repos, func(i, j int) bool {
		return repos[i].owner+"/"+repos[i].name < repos[j].owner+"/"+repos[j].name
	})
	g := &gen{base: "https://" + key.host, orgIDs: orgIDs, login: key.login}
	var els [][]byte
	if key.kind.perOrg() {
		seen := map[string]bool{}
		var orgs []string
		for _, r := range repos {
			if r.OwnerType == "Organization" && !seen[r.owner] {
				seen[r.owner] = true
				orgs = append(orgs, r.owner)
			}
		}
		sort.Strings(orgs)
		for _, o := range orgs {
			var el object
			switch key.kind {
			case kindOrgs:
				el = g.org(o, true)
			case kindMemberships:
				el = g.membership(o)
			case kindTeams:
				id, ok := teamIDs[o]
				if !ok {
					id = 3000000 + g.accountID(o)%1000000
				}
				el = g.team(o, id)
			}
			els = append(els, mustJSON(el))
		}
	} else {
		for i, r := range repos {
			var el object
			switch key.kind {
			case kindRepos, kindSearchRepos, kindInstallationRepos:
				el = g.repo(r, true)
			case kindIssues:
				el = g.issue(r, true)
			case kindNotifications:
				el = g.notification(r)
			case kindSearchCode:
				el = g.codeResult(r)
			case kindSearchCommits:
				el = g.commitResult(r)
			case kindSearchIssues:
				el = g.issue(r, false)
			case kindEvents:
				el = g.event(r, i)
			}
			els = append(els, mustJSON(el))
		}
	}
	h.mu.Lock()
	if h.listCache == nil || len(h.listCache) > 256 {
		h.listCache = map[listCacheKey][][]byte{}
	}
	h.listCache[key] = els
	h.mu.Unlock()
	return els
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// object is a JSON object that keeps its keys in order, as GitHub's do.
type object []field

type field struct {
	k string
	v any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// gen renders GitHub-shaped objects for one host name.
type gen struct {
	base   string // https://HOST
	orgIDs map[string]int64
	login  string // the token's user
}

const (
	created = "2021-06-01T09:30:00Z"
	updated = "2024-03-04T12:00:00Z"
	pushed  = "2024-03-04T11:58:00Z"
)

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s%d", kind, id))
}

// accountID is an organization's id from the table, else a stable one made
// from the login.
func (g *gen) accountID(login string) int64 {
	if id, ok := g.orgIDs[login]; ok {
		return id
	}
	f := fnv.New32a()
	_, _ = f.Write([]byte(login))
	return 10000 + int64(f.Sum32()%9000000)
}

func (g *gen) api() string { return g.base + "/api/v3" }

// user is GitHub's simple user (an organization too, as an owner).
func (g *gen) user(login, typ string) object {
	id := g.accountID(login)
	u := g.api() + "/users/" + login
	kind := "04:User"
	if typ == "Organization" {
		kind = "012:Organization"
	}
	return object{
		{"login", login},
		{"id", id},
		{"node_id", nodeID(kind, id)},
		{"avatar_url", g.base + "/avatars/u/" + strconv.FormatInt(id, 10) + "?"},
		{"gravatar_id", ""},
		{"url", u},
		{"html_url", g.base + "/" + login},
		{"followers_url", u + "/followers"},
		{"following_url", u + "/following{/other_user}"},
		{"gists_url", u + "/gists{/gist_id}"},
		{"starred_url", u + "/starred{/owner}{/repo}"},
		{"subscriptions_url", u + "/subscriptions"},
		{"organizations_url", u + "/orgs"},
		{"repos_url", u + "/repos"},
		{"events_url", u + "/events{/privacy}"},
		{"received_events_url", u + "/received_events"},
		{"type", typ},
		{"user_view_type", "public"},
		{"site_admin", false},
	}
}

// repo is a repository: the full one of /user/repos, or GitHub's minimal
// repository (notifications, code and commit search), which carries no
// visibility.
func (g *gen) repo(r tableRepo, full bool) object {
	fullName := r.owner + "/" + r.name
	u := g.api() + "/repos/" + fullName
	html := g.base + "/" + fullName
	o := object{
		{"id", r.ID},
		{"node_id", nodeID("010:Repository", r.ID)},
		{"name", r.name},
		{"full_name", fullName},
		{"private", r.Visibility != "public"},
		{"owner", g.user(r.owner, r.OwnerType)},
		{"html_url", html},
		{"description", "A repository of the fake host." + padMark},
		{"fork", false},
		{"url", u},
		{"forks_url", u + "/forks"},
		{"keys_url", u + "/keys{/key_id}"},
		{"collaborators_url", u + "/collaborators{/collaborator}"},
		{"teams_url", u + "/teams"},
		{"hooks_url", u + "/hooks"},
		{"issue_events_url", u + "/issues/events{/number}"},
		{"events_url", u + "/events"},
		{"assignees_url", u + "/assignees{/user}"},
		{"branches_url", u + "/branches{/branch}"},
		{"tags_url", u + "/tags"},
		{"blobs_url", u + "/git/blobs{/sha}"},
		{"git_tags_url", u + "/git/tags{/sha}"},
		{"git_refs_url", u + "/git/refs{/sha}"},
		{"trees_url", u + "/git/trees{/sha}"},
		{"statuses_url", u + "/statuses/{sha}"},
		{"languages_url", u + "/languages"},
		{"stargazers_url", u + "/stargazers"},
		{"contributors_url", u + "/contributors"},
		{"subscribers_url", u + "/subscribers"},
		{"subscription_url", u + "/subscription"},
		{"commits_url", u + "/commits{/sha}"},
		{"git_commits_url", u + "/git/commits{/sha}"},
		{"comments_url", u + "/comments{/number}"},
		{"issue_comment_url", u + "/issues/comments{/number}"},
		{"contents_url", u + "/contents/{+path}"},
		{"compare_url", u + "/compare/{base}...{head}"},
		{"merges_url", u + "/merges"},
		{"archive_url", u + "/{archive_format}{/ref}"},
		{"downloads_url", u + "/downloads"},
		{"issues_url", u + "/issues{/number}"},
		{"pulls_url", u + "/pulls{/number}"},
		{"milestones_url", u + "/milestones{/number}"},
		{"notifications_url", u + "/notifications{?since,all,participating}"},
		{"labels_url", u + "/labels{/name}"},
		{"releases_url", u + "/releases{/id}"},
		{"deployments_url", u + "/deployments"},
	}
	if !full {
		return o
	}
	host := strings.TrimPrefix(g.base, "https://")
	return append(o,
		field{"created_at", created},
		field{"updated_at", updated},
		field{"pushed_at", pushed},
		field{"git_url", "git://" + host + "/" + fullName + ".git"},
		field{"ssh_url", "git@" + host + ":" + fullName + ".git"},
		field{"clone_url", html + ".git"},
		field{"svn_url", html},
		field{"homepage", nil},
		field{"size", 1024 + r.ID%4096},
		field{"stargazers_count", r.ID % 17},
		field{"watchers_count", r.ID % 17},
		field{"language", "Go"},
		field{"has_issues", true},
		field{"has_projects", true},
		field{"has_downloads", true},
		field{"has_wiki", true},
		field{"has_pages", false},
		field{"has_discussions", false},
		field{"forks_count", r.ID % 5},
		field{"mirror_url", nil},
		field{"archived", false},
		field{"disabled", false},
		field{"open_issues_count", 1},
		field{"license", object{
			{"key", "mit"}, {"name", "MIT License"}, {"spdx_id", "MIT"},
			{"url", g.api() + "/licenses/mit"}, {"node_id", "MDc6TGljZW5zZTEz"},
		}},
		field{"allow_forking", true},
		field{"is_template", false},
		field{"web_commit_signoff_required", false},
		field{"topics", []string{"fake-host", "patgate"}},
		field{"visibility", r.Visibility},
		field{"forks", r.ID % 5},
		field{"open_issues", 1},
		field{"watchers", r.ID % 17},
		field{"default_branch", "main"},
		field{"permissions", object{
			{"admin", false}, {"maintain", false}, {"push", true}, {"triage", true}, {"pull", true},
		}},
	)
}

// issue is issue number 1 of a repository: with its repository object
// (/issues, /user/issues), or as issue search has it, with repository_url
// only and the padding in its body.
func (g *gen) issue(r tableRepo, withRepo bool) object {
	fullName := r.owner + "/" + r.name
	repoURL := g.api() + "/repos/" + fullName
	u := repoURL + "/issues/1"
	id := 5000000 + r.ID
	body := "Something to fix in " + fullName + "."
	if !withRepo {
		body += padMark
	}
	o := object{
		{"url", u},
		{"repository_url", repoURL},
		{"labels_url", u + "/labels{/name}"},
		{"comments_url", u + "/comments"},
		{"events_url", u + "/events"},
		{"html_url", g.base + "/" + fullName + "/issues/1"},
		{"id", id},
		{"node_id", nodeID("05:Issue", id)},
		{"number", 1},
		{"title", "An issue in " + fullName},
		{"user", g.user(g.login, "User")},
		{"labels", []any{}},
		{"state", "open"},
		{"locked", false},
		{"assignee", nil},
		{"assignees", []any{}},
		{"milestone", nil},
		{"comments", 0},
		{"created_at", created},
		{"updated_at", updated},
		{"closed_at", nil},
		{"author_association", "MEMBER"},
		{"active_lock_reason", nil},
		{"body", body},
		{"reactions", object{{"url", u + "/reactions"}, {"total_count", 0}}},
		{"timeline_url", u + "/timeline"},
		{"performed_via_github_app", nil},
		{"state_reason", nil},
	}
	if withRepo {
		o = append(o, field{"repository", g.repo(r, true)})
	} else {
		o = append(o, field{"score", 1.0})
	}
	return o
}

// notification is a thread about issue 1 of a repository.
func (g *gen) notification(r tableRepo) object {
	fullName := r.owner + "/" + r.name
	id := strconv.FormatInt(7000000+r.ID, 10)
	threads := g.api() + "/notifications/threads/" + id
	return object{
		{"id", id},
		{"repository", g.repo(r, false)},
		{"subject", object{
			{"title", "An issue in " + fullName},
			{"url", g.api() + "/repos/" + fullName + "/issues/1"},
			{"latest_comment_url", g.api() + "/repos/" + fullName + "/issues/1"},
			{"type", "Issue"},
		}},
		{"reason", "subscribed"},
		{"unread", true},
		{"updated_at", updated},
		{"last_read_at", nil},
		{"url", threads},
		{"subscription_url", threads + "/subscription"},
	}
}

func (g *gen) sha(r tableRepo, what string) string {
	return SHA(fmt.Sprintf("%s/%s %s", r.owner, r.name, what))[:40]
}

// codeResult is a code search hit: README.md of a repository.
func (g *gen) codeResult(r tableRepo) object {
	fullName := r.owner + "/" + r.name
	sha := g.sha(r, "README.md")
	head := g.sha(r, "main")
	return object{
		{"name", "README.md"},
		{"path", "README.md"},
		{"sha", sha},
		{"url", g.api() + "/repos/" + fullName + "/contents/README.md?ref=" + head},
		{"git_url", g.api() + "/repos/" + fullName + "/git/blobs/" + sha},
		{"html_url", g.base + "/" + fullName + "/blob/" + head + "/README.md"},
		{"repository", g.repo(r, false)},
		{"score", 1.0},
	}
}

// commitResult is a commit search hit: the head commit of a repository.
func (g *gen) commitResult(r tableRepo) object {
	fullName := r.owner + "/" + r.name
	sha := g.sha(r, "main")
	u := g.api() + "/repos/" + fullName + "/commits/" + sha
	who := object{{"date", pushed}, {"name", "Octo Cat"}, {"email", "octocat@github.example"}}
	return object{
		{"url", u},
		{"sha", sha},
		{"node_id", base64.StdEncoding.EncodeToString([]byte("06:Commit" + sha))},
		{"html_url", g.base + "/" + fullName + "/commit/" + sha},
		{"comments_url", u + "/comments"},
		{"commit", object{
			{"url", g.api() + "/repos/" + fullName + "/git/commits/" + sha},
			{"author", who},
			{"committer", who},
			{"message", "Update README.md"},
			{"tree", object{{"url", g.api() + "/repos/" + fullName + "/git/trees/" + g.sha(r, "tree")}, {"sha", g.sha(r, "tree")}}},
			{"comment_count", 0},
		}},
		{"author", g.user(g.login, "User")},
		{"committer", g.user(g.login, "User")},
		{"parents", []any{}},
		{"repository", g.repo(r, false)},
		{"score", 1.0},
	}
}

// org is an organization as /user/orgs lists it; padded says whether its
// description takes the element's padding.
func (g *gen) org(login string, padded bool) object {
	id := g.accountID(login)
	u := g.api() + "/orgs/" + login
	desc := "The " + login + " organization."
	if padded {
		desc += padMark
	}
	return object{
		{"login", login},
		{"id", id},
		{"node_id", nodeID("012:Organization", id)},
		{"url", u},
		{"repos_url", u + "/repos"},
		{"events_url", u + "/events"},
		{"hooks_url", u + "/hooks"},
		{"issues_url", u + "/issues"},
		{"members_url", u + "/members{/member}"},
		{"public_members_url", u + "/public_members{/member}"},
		{"avatar_url", g.base + "/avatars/u/" + strconv.FormatInt(id, 10) + "?"},
		{"description", desc},
	}
}

// membership is the token user's membership of an organization.
func (g *gen) membership(login string) object {
	return object{
		{"url", g.api() + "/orgs/" + login + "/memberships/" + g.login},
		{"state", "active"},
		{"role", "member"},
		{"organization_url", g.api() + "/orgs/" + login},
		{"organization", g.org(login, true)},
		{"user", g.user(g.login, "User")},
	}
}

// team is a team of an organization, as /user/teams lists it.
func (g *gen) team(login string, id int64) object {
	u := g.api() + "/teams/" + strconv.FormatInt(id, 10)
	org := g.org(login, false)
	org = append(org,
		field{"name", login},
		field{"company", nil},
		field{"blog", nil},
		field{"location", nil},
		field{"email", nil},
		field{"is_verified", false},
		field{"has_organization_projects", true},
		field{"has_repository_projects", true},
		field{"public_repos", 2},
		field{"public_gists", 0},
		field{"followers", 0},
		field{"following", 0},
		field{"html_url", g.base + "/" + login},
		field{"created_at", created},
		field{"updated_at", updated},
		field{"archived_at", nil},
		field{"type", "Organization"},
	)
	return object{
		{"name", "Developers"},
		{"id", id},
		{"node_id", nodeID("04:Team", id)},
		{"slug", "developers"},
		{"description", "Everyone who writes code at " + login + "." + padMark},
		{"privacy", "closed"},
		{"notification_setting", "notifications_enabled"},
		{"url", u},
		{"html_url", g.base + "/orgs/" + login + "/teams/developers"},
		{"members_url", u + "/members{/member}"},
		{"repositories_url", u + "/repos"},
		{"permission", "pull"},
		{"parent", nil},
		{"members_count", 3},
		{"repos_count", 2},
		{"created_at", created},
		{"updated_at", updated},
		{"organization", org},
	}
}

// event is a push to a repository; organization-owned ones carry org.
func (g *gen) event(r tableRepo, i int) object {
	fullName := r.owner + "/" + r.name
	actorID := g.accountID(g.login)
	sha := g.sha(r, "main")
	o := object{
		{"id", strconv.FormatInt(40000000000+r.ID, 10)},
		{"type", "PushEvent"},
		{"actor", object{
			{"id", actorID},
			{"login", g.login},
			{"display_login", g.login},
			{"gravatar_id", ""},
			{"url", g.api() + "/users/" + g.login},
			{"avatar_url", g.base + "/avatars/u/" + strconv.FormatInt(actorID, 10) + "?"},
		}},
		{"repo", object{
			{"id", r.ID},
			{"name", fullName},
			{"url", g.api() + "/repos/" + fullName},
		}},
		{"payload", object{
			{"repository_id", r.ID},
			{"push_id", 9000000 + int64(i)},
			{"size", 1},
			{"distinct_size", 1},
			{"ref", "refs/heads/main"},
			{"head", sha},
			{"before", g.sha(r, "before")},
			{"commits", []any{object{
				{"sha", sha},
				{"author", object{{"email", "octocat@github.example"}, {"name", "Octo Cat"}}},
				{"message", "Update README.md" + padMark},
				{"distinct", true},
				{"url", g.api() + "/repos/" + fullName + "/commits/" + sha},
			}}},
		}},
		{"public", r.Visibility == "public"},
		{"created_at", pushed},
	}
	if r.OwnerType == "Organization" {
		id := g.accountID(r.owner)
		o = append(o, field{"org", object{
			{"id", id},
			{"login", r.owner},
			{"gravatar_id", ""},
			{"url", g.api() + "/orgs/" + r.owner},
			{"avatar_url", g.base + "/avatars/u/" + strconv.FormatInt(id, 10) + "?"},
		}})
	}
	return o
}
