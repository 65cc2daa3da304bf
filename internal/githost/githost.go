// Package githost is a fake GitHub Enterprise Server for patgate's tests and
// benchmarks: it answers the lookup API from its own tables, serves Git over
// HTTPS through the real `git http-backend` and a small Git LFS server, asks
// for credentials the way GitHub does, and records every request that
// reaches it other than the gateway's own lookups. It stands for the outside
// service only; nothing of patgate's is faked.
package githost

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Repo describes one repository the host knows.
type Repo struct {
	ID         int64
	OwnerType  string // "Organization" or "User"
	Visibility string // "public", "private" or "internal"
}

// Request is what reached the host through the gateway.
type Request struct {
	Method, Path, RawQuery string
	// Body is kept for small bodies (64 KiB at most).
	Body string
	// AuthSHA is the SHA-256 of the Authorization header, so tests can
	// compare credentials without keeping them.
	AuthSHA string
}

// Host is the fake host. Configure it before serving; the setters are safe
// for concurrent use.
type Host struct {
	// ServiceToken is the lookup credential: requests carrying it are the
	// gateway's lookups, answered from the tables and not recorded.
	ServiceToken string
	// GitRoot holds bare repositories as {owner}/{repo}.git; empty
	// disables Git.
	GitRoot string
	// Quiet stops recording forwarded requests (for benchmarks).
	Quiet bool

	mu         sync.Mutex
	repos      map[string]Repo      // "owner/name", lowercase
	accounts   map[string]string    // login → type
	orgIDs     map[int64]string     // organization id → login
	teams      map[int64]string     // team id → organization login
	users      map[string]string    // token → login for GET /user
	expiry     map[string]time.Time // token → its expiry, for GET /user
	userStatus map[string]int       // token → the status GET /user answers
	requestIDs int64                // counts answers, for X-GitHub-Request-Id
	failing    map[string]bool
	garbage    map[string]bool
	hidden     map[string]bool   // repositories the service credential cannot see
	status     map[string]int    // "owner/name" → a status its lookups answer
	redirect   map[string]string // "owner/name" → where its lookups redirect
	delay      time.Duration
	lfs        map[string][]byte // "owner/name/oid" → content
	forwarded  []Request
	lookups    int
	nextID     int64

	// The list routes (lists.go).
	gen           int64 // counts changes to the tables
	listCache     map[listCacheKey][][]byte
	listGzip      ListGzip
	listTruncated bool
	listPadding   int
	listCount     int

	// The GraphQL data model (graphql.go).
	issues      map[string][]issueEntry    // "owner/name", lowercase → its issues and pull requests
	parents     map[string]string          // fork → parent, "owner/name", lowercase
	members     map[string]map[string]bool // organization → member logins, lowercase
	gqlCache    *gqlWorld                  // the tables as of gqlCacheGen
	gqlCacheGen int64
}

// New returns an empty host.
func New(serviceToken, gitRoot string) *Host {
	return &Host{
		ServiceToken: serviceToken, GitRoot: gitRoot,
		repos: map[string]Repo{}, accounts: map[string]string{},
		users: map[string]string{}, expiry: map[string]time.Time{}, userStatus: map[string]int{}, failing: map[string]bool{}, garbage: map[string]bool{},
		orgIDs: map[int64]string{}, teams: map[int64]string{},
		lfs:    map[string][]byte{},
		issues: map[string][]issueEntry{}, parents: map[string]string{}, members: map[string]map[string]bool{},
	}
}

// AddAccount adds a user or organization.
func (h *Host) AddAccount(login, typ string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.accounts[strings.ToLower(login)] = typ
	h.gen++
}

// SetTokenExpiry makes GET /user with the token say when it expires
// (GitHub-Authentication-Token-Expiration); the zero time: no header, the
// token never expires.
func (h *Host) SetTokenExpiry(token string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expiry[token] = at
}

// SetUserStatus makes GET /user with the token answer status (0: as
// usual), to stand for a host that cannot say who the token is.
func (h *Host) SetUserStatus(token string, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.userStatus[token] = status
}

// AddOrgID gives an organization a numeric id for GET /organizations/{id}.
func (h *Host) AddOrgID(id int64, login string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.orgIDs[id] = login
	h.accounts[strings.ToLower(login)] = "Organization"
	h.gen++
}

// AddTeam adds a team of an organization for GET /teams/{id}.
func (h *Host) AddTeam(id int64, org string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.teams[id] = org
	h.gen++
}

// AddRepo adds a repository (and its owner); with a GitRoot it also creates
// the bare repository, accepting pushes. Ids count up from 1000.
func (h *Host) AddRepo(owner, name, ownerType, visibility string) error {
	h.mu.Lock()
	h.nextID++
	id := 1000 + h.nextID
	h.mu.Unlock()
	return h.AddRepoID(id, owner, name, ownerType, visibility)
}

// AddRepoEntry adds a repository (and its owner) to the tables only, never
// creating a Git repository, and returns its id (counting up as AddRepo's
// do): for list answers and lookups of repositories nobody clones.
func (h *Host) AddRepoEntry(owner, name, ownerType, visibility string) int64 {
	h.mu.Lock()
	h.nextID++
	id := 1000 + h.nextID
	h.mu.Unlock()
	h.addEntry(id, owner, name, ownerType, visibility)
	return id
}

func (h *Host) addEntry(id int64, owner, name, ownerType, visibility string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.repos[strings.ToLower(owner+"/"+name)] = Repo{ID: id, OwnerType: ownerType, Visibility: visibility}
	h.accounts[strings.ToLower(owner)] = ownerType
	h.gen++
}

// AddRepoID is AddRepo with a chosen id.
func (h *Host) AddRepoID(id int64, owner, name, ownerType, visibility string) error {
	h.addEntry(id, owner, name, ownerType, visibility)
	if h.GitRoot == "" {
		return nil
	}
	dir := filepath.Join(h.GitRoot, owner, name+".git")
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=main", dir},
		{"-C", dir, "config", "http.receivepack", "true"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// SetUser makes GET /user answer login for the token.
func (h *Host) SetUser(token, login string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[token] = login
}

// SetFailing makes lookups of "owner/name" answer 502.
func (h *Host) SetFailing(repo string, fail bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failing[strings.ToLower(repo)] = fail
}

// SetVisibility changes a repository's visibility, as an owner would on
// the host.
func (h *Host) SetVisibility(repo, visibility string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := strings.ToLower(repo)
	r := h.repos[key]
	r.Visibility = visibility
	h.repos[key] = r
	h.gen++
}

// SetHidden makes "owner/name" invisible to the service credential, as
// for a GitHub App installation that does not cover its organization: its
// lookups answer 404, by name and by id.
func (h *Host) SetHidden(repo string, hidden bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hidden == nil {
		h.hidden = map[string]bool{}
	}
	h.hidden[strings.ToLower(repo)] = hidden
}

// SetLookupStatus makes lookups of "owner/name" answer status (0: as
// usual), as a host answers 414 for a name too long or 422 for one it
// cannot read.
func (h *Host) SetLookupStatus(repo string, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status == nil {
		h.status = map[string]int{}
	}
	h.status[strings.ToLower(repo)] = status
}

// SetLookupRedirect makes lookups of "owner/name" answer 301 to location
// ("" to stop), as a host that was tampered with, or a proxy in front of
// it, might.
func (h *Host) SetLookupRedirect(repo, location string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.redirect == nil {
		h.redirect = map[string]string{}
	}
	h.redirect[strings.ToLower(repo)] = location
}

// SetGarbage makes lookups of "owner/name" answer 200 with broken JSON.
func (h *Host) SetGarbage(repo string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.garbage[strings.ToLower(repo)] = on
}

// SetLookupDelay makes every lookup answer after d.
func (h *Host) SetLookupDelay(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delay = d
}

// Forwarded returns a copy of the recorded requests.
func (h *Host) Forwarded() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.forwarded...)
}

// Count returns how many requests were recorded.
func (h *Host) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.forwarded)
}

// Last returns the last recorded request and the count.
func (h *Host) Last() (Request, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.forwarded) == 0 {
		return Request{}, 0
	}
	return h.forwarded[len(h.forwarded)-1], len(h.forwarded)
}

// Lookups returns how many lookup calls the host answered.
func (h *Host) Lookups() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lookups
}

// SHA returns the lowercase hex SHA-256 of s.
func SHA(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if h.ServiceToken != "" && auth == "token "+h.ServiceToken {
		h.lookup(w, r)
		return
	}
	if r.URL.Path == "/api/v3/user" && strings.HasPrefix(auth, "token ") {
		tok := strings.TrimPrefix(auth, "token ")
		h.mu.Lock()
		login, ok := h.users[tok]
		expiry, status := h.expiry[tok], h.userStatus[tok]
		if ok {
			h.lookups++
		}
		h.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		if ok {
			if !expiry.IsZero() {
				// GitHub's format: "2026-03-01 12:00:00 UTC".
				w.Header().Set("GitHub-Authentication-Token-Expiration", expiry.UTC().Format("2006-01-02 15:04:05 MST"))
			}
			fmt.Fprintf(w, `{"login":%q,"type":"User"}`, login)
			return
		}
	}
	// Every answer carries a request id, as GitHub's do; the gateway's
	// decision record joins it (SPEC §12).
	h.mu.Lock()
	h.requestIDs++
	w.Header().Set("X-GitHub-Request-Id", fmt.Sprintf("FAKE:%04X:%06X", h.requestIDs%0xFFFF, h.requestIDs))
	h.mu.Unlock()
	if r.URL.Path == "/__auth" {
		// A trivial authorizer for forward_auth benchmarks: yes, at once.
		w.WriteHeader(http.StatusOK)
		return
	}
	h.record(r, auth)
	if r.URL.Path == "/api/graphql" {
		h.graphql(w, r)
		return
	}
	// Like Rack's MethodOverride, a POST may say it is a GET.
	overridden := r.Method == http.MethodPost && (strings.EqualFold(r.Header.Get("X-HTTP-Method-Override"), "GET") || strings.EqualFold(r.URL.Query().Get("_method"), "GET"))
	if r.Method == http.MethodGet || r.Method == http.MethodHead || overridden {
		if p, ok := strings.CutPrefix(r.URL.Path, "/api/v3"); ok {
			if kind, ok := listRoute(p); ok {
				h.serveList(w, r, kind, p, auth)
				return
			}
		}
	}
	if owner, repo, rest, ok := gitPath(r.URL.Path); ok && h.GitRoot != "" {
		h.serveGit(w, r, owner, repo, rest, auth)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "upstream: %s %s", r.Method, r.URL.Path)
}

func (h *Host) record(r *http.Request, auth string) {
	if h.Quiet {
		return
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, AuthSHA: SHA(auth)}
	if r.ContentLength >= 0 && r.ContentLength <= 64<<10 && !strings.Contains(r.URL.Path, "/info/lfs/") && !isGitService(r.URL.Path) {
		body, _ := io.ReadAll(r.Body)
		rec.Body = string(body)
		r.Body = io.NopCloser(strings.NewReader(rec.Body))
	}
	h.mu.Lock()
	h.forwarded = append(h.forwarded, rec)
	h.mu.Unlock()
}

func isGitService(p string) bool {
	return strings.HasSuffix(p, "/git-upload-pack") || strings.HasSuffix(p, "/git-receive-pack")
}

func (h *Host) lookup(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	delay := h.delay
	h.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lookups++
	w.Header().Set("Content-Type", "application/json")
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	switch {
	case strings.HasPrefix(p, "/repos/"):
		key := strings.ToLower(strings.TrimPrefix(p, "/repos/"))
		if h.failing[key] {
			http.Error(w, `{"message":"bad gateway"}`, http.StatusBadGateway)
			return
		}
		if h.garbage[key] {
			fmt.Fprint(w, `{"id": 1, "owner": {"login": `)
			return
		}
		if loc := h.redirect[key]; loc != "" {
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		if st := h.status[key]; st != 0 {
			http.Error(w, `{"message":"refused"}`, st)
			return
		}
		if repo, ok := h.repos[key]; ok && !h.hidden[key] {
			owner, name, _ := strings.Cut(key, "/")
			fmt.Fprintf(w, `{"id":%d,"name":%q,"owner":{"login":%q,"type":%q},"visibility":%q,"private":%v}`,
				repo.ID, name, owner, repo.OwnerType, repo.Visibility, repo.Visibility != "public")
			return
		}
	case strings.HasPrefix(p, "/users/"):
		login := strings.ToLower(strings.TrimPrefix(p, "/users/"))
		if typ, ok := h.accounts[login]; ok {
			fmt.Fprintf(w, `{"login":%q,"type":%q}`, login, typ)
			return
		}
	case strings.HasPrefix(p, "/repositories/"):
		for key, repo := range h.repos {
			if fmt.Sprint(repo.ID) == strings.TrimPrefix(p, "/repositories/") && !h.hidden[key] {
				owner, name, _ := strings.Cut(key, "/")
				fmt.Fprintf(w, `{"id":%d,"name":%q,"owner":{"login":%q,"type":%q},"visibility":%q,"private":%v}`,
					repo.ID, name, owner, repo.OwnerType, repo.Visibility, repo.Visibility != "public")
				return
			}
		}
	case strings.HasPrefix(p, "/organizations/"):
		var id int64
		if _, err := fmt.Sscan(strings.TrimPrefix(p, "/organizations/"), &id); err == nil && h.orgIDs[id] != "" {
			fmt.Fprintf(w, `{"login":%q,"id":%d}`, h.orgIDs[id], id)
			return
		}
	case strings.HasPrefix(p, "/teams/"):
		var id int64
		if _, err := fmt.Sscan(strings.TrimPrefix(p, "/teams/"), &id); err == nil && h.teams[id] != "" {
			fmt.Fprintf(w, `{"id":%d,"organization":{"login":%q}}`, id, h.teams[id])
			return
		}
	}
	http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
}

// gitPath splits /{owner}/{repo}[.git]/{rest} for the Git and LFS routes.
// Under /{owner}/{repo}.git every path goes to git http-backend, as a
// stock deployment of it does, so the dumb protocol's HEAD, objects/… and
// info/packs are served too.
func gitPath(p string) (owner, repo, rest string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)
	if len(parts) < 3 {
		return "", "", "", false
	}
	rest = parts[2]
	if rest != "info/refs" && rest != "git-upload-pack" && rest != "git-receive-pack" && !strings.HasPrefix(rest, "info/lfs/") &&
		!strings.HasSuffix(parts[1], ".git") {
		return "", "", "", false
	}
	return parts[0], strings.TrimSuffix(parts[1], ".git"), rest, true
}

// serveGit asks for credentials as GitHub does (anonymous access only to
// public repositories, and never for pushes), then serves LFS itself and
// everything else through git http-backend.
func (h *Host) serveGit(w http.ResponseWriter, r *http.Request, owner, repo, rest, auth string) {
	h.mu.Lock()
	info, known := h.repos[strings.ToLower(owner+"/"+repo)]
	h.mu.Unlock()
	if !known {
		http.Error(w, "Repository not found.", http.StatusNotFound)
		return
	}
	write := rest == "git-receive-pack" || strings.Contains(r.URL.RawQuery, "service=git-receive-pack") ||
		strings.HasPrefix(rest, "info/lfs/") && r.Method != http.MethodGet && rest != "info/lfs/objects/batch"
	if auth == "" && (info.Visibility != "public" || write) {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		http.Error(w, "Authentication required", http.StatusUnauthorized)
		return
	}
	if strings.HasPrefix(rest, "info/lfs/") {
		h.serveLFS(w, r, owner, repo, rest, auth)
		return
	}
	// git sends large pushes chunked; CGI needs a length, so spool the body.
	if r.ContentLength < 0 && r.Body != nil {
		f, err := os.CreateTemp("", "githost-body-")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		n, err := io.Copy(f, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.Body, r.ContentLength = f, n
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", fmt.Sprint(n))
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		http.Error(w, "git not found", http.StatusInternalServerError)
		return
	}
	r.URL.Path = "/" + owner + "/" + repo + ".git/" + rest
	handler := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + h.GitRoot,
			"GIT_HTTP_EXPORT_ALL=1",
			// http-backend allows receive-pack for an authenticated user.
			"REMOTE_USER=git",
		},
	}
	handler.ServeHTTP(w, r)
}

type lfsObject struct {
	OID     string                    `json:"oid"`
	Size    int64                     `json:"size"`
	Actions map[string]map[string]any `json:"actions,omitempty"`
	Error   *lfsError                 `json:"error,omitempty"`
}

type lfsError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// serveLFS is a small Git LFS server: the batch API, basic transfers to and
// from the host itself, and the locks verification git-lfs runs on push.
func (h *Host) serveLFS(w http.ResponseWriter, r *http.Request, owner, repo, rest, auth string) {
	w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
	key := strings.ToLower(owner + "/" + repo)
	base := "http://" + r.Host + "/" + owner + "/" + repo + ".git/info/lfs/objects/"
	switch {
	case rest == "info/lfs/objects/batch" && r.Method == http.MethodPost:
		var req struct {
			Operation string      `json:"operation"`
			Objects   []lfsObject `json:"objects"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprintf(w, `{"message":%q}`, err.Error())
			return
		}
		if req.Operation == "upload" && auth == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"Authentication required"}`)
			return
		}
		h.mu.Lock()
		out := make([]lfsObject, 0, len(req.Objects))
		for _, o := range req.Objects {
			_, have := h.lfs[key+"/"+o.OID]
			res := lfsObject{OID: o.OID, Size: o.Size}
			switch {
			case req.Operation == "download" && have:
				res.Actions = map[string]map[string]any{"download": {"href": base + o.OID}}
			case req.Operation == "download":
				res.Error = &lfsError{Code: 404, Message: "Object does not exist"}
			case !have:
				res.Actions = map[string]map[string]any{"upload": {"href": base + o.OID}}
			}
			out = append(out, res)
		}
		h.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"transfer": "basic", "objects": out})
	case strings.HasPrefix(rest, "info/lfs/objects/") && r.Method == http.MethodPut:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.lfs[key+"/"+strings.TrimPrefix(rest, "info/lfs/objects/")] = body
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(rest, "info/lfs/objects/") && r.Method == http.MethodGet:
		h.mu.Lock()
		body, ok := h.lfs[key+"/"+strings.TrimPrefix(rest, "info/lfs/objects/")]
		h.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Object does not exist"}`)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(body)
	case rest == "info/lfs/locks/verify":
		fmt.Fprint(w, `{"ours":[],"theirs":[]}`)
	case strings.HasPrefix(rest, "info/lfs/locks"):
		fmt.Fprint(w, `{"locks":[]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
	}
}
