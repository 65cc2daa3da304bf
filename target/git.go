package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// reserved lists the top-level paths of a GitHub Enterprise Server that are
// the host's own pages, never an account: GitHub does not let anyone sign up
// with these logins, so /{reserved}/{x}/… names no repository.
var reserved = map[string]bool{
	"_private": true, "_lfs": true, "about": true, "account": true, "admin": true,
	"api": true, "apps": true, "assets": true, "codespaces": true,
	"dashboard": true, "enterprises": true, "explore": true, "features": true,
	"favicon.ico": true, "gist": true, "gists": true, "graphql": true,
	"issues": true, "join": true, "login": true, "logout": true,
	"manifest.json": true, "marketplace": true, "new": true,
	"notifications": true, "organizations": true, "orgs": true,
	"password_reset": true, "pulls": true, "robots.txt": true,
	"search": true, "session": true, "sessions": true, "settings": true,
	"setup": true, "signup": true, "site": true, "sponsors": true,
	"stafftools": true, "status": true, "storage": true, "users": true,
	"topics": true, "trending": true, "collections": true, "stars": true,
	"watching": true, "enterprise": true,
}

// Reserved returns the reserved top-level path names, for documentation.
func Reserved() []string {
	names := make([]string, 0, len(reserved))
	for n := range reserved {
		names = append(names, n)
	}
	return names
}

// resolveGit maps the paths outside the API prefix. Every path under a
// repository, /{owner}/{repo}[.git] and anything below it, is that
// repository's resource (SPEC §3): a host may serve any of them (a stock
// git http-backend serves the dumb protocol's objects/ and info/packs; a
// raw. or codeload. host serves files at /{owner}/{repo}/{ref}/{path}).
//
//   - Git smart HTTP: info/refs (a write with service=git-receive-pack, so
//     a refused push fails where git shows the message), git-upload-pack
//     (a read, although a POST) and git-receive-pack (a write).
//   - Git LFS: info/lfs/objects/batch (read or write by the body's
//     operation), info/lfs/objects/{oid} (basic transfers), info/lfs/locks…
//     (a write).
//   - Anything else (web downloads, dumb HTTP, pages): a read for GET and
//     HEAD, a write for any other method.
//
// The fixed names compare case-insensitively, as a host that routes them
// so would read them. Only paths of fewer than two segments and the host's
// own top-level pages (reserved) are unscoped.
func resolveGit(path, query string, method string) Target {
	access := Write
	if method == "GET" || method == "HEAD" {
		access = Read
	}
	var buf [5]string
	seg := segments(path, buf[:])
	t := Target{Scope: Unscoped, Surface: Git, Access: access}
	if len(seg) < 2 {
		return t
	}
	if strings.EqualFold(seg[0], "raw") {
		// /raw/{owner}/{repo}/{ref}/{path}: raw files when subdomain
		// isolation is off.
		if len(seg) < 3 {
			return t
		}
		t = repoTarget(seg[1], seg[2], Web, access)
		t.AnonReadable = access == Read
		return t
	}
	if reserved[strings.ToLower(seg[0])] {
		return t
	}
	owner, repo := seg[0], seg[1]
	if len(repo) > 4 && strings.EqualFold(repo[len(repo)-4:], ".git") {
		repo = repo[:len(repo)-4]
	}
	if repo == "" {
		return t
	}
	rest := ""
	if len(seg) > 2 {
		rest = strings.ToLower(strings.Join(seg[2:], "/"))
	}
	t = repoTarget(owner, repo, Git, access)
	switch {
	case rest == "info/refs":
		if hasQueryParam(query, "service", "git-receive-pack") {
			t.Access = Write
		}
	case rest == "git-upload-pack":
		// A POST, but a fetch: it reads.
		t.Access = Read
	case rest == "git-receive-pack":
		t.Access = Write
	case rest == "info/lfs/objects/batch":
		t.Surface = LFS
		t.BodyDecides = access == Write
	case strings.HasPrefix(rest, "info/lfs/objects/"):
		// Basic transfers served by the host itself: GET downloads, PUT
		// uploads, POST verifies an upload.
		t.Surface = LFS
	case strings.HasPrefix(rest, "info/lfs"):
		// Locks guard pushes; every lock route counts as a write, and so
		// does any other LFS route.
		t.Surface, t.Access = LFS, Write
	case hasSegPrefix(rest, "raw"), hasSegPrefix(rest, "archive"), strings.HasPrefix(rest, "releases/download/"):
		t.Surface = Web
	}
	// Reads of a public repository are anonymous users' reads too; writes
	// never are.
	t.AnonReadable = t.Access == Read
	return t
}

func repoTarget(owner, repo string, s Surface, a Access) Target {
	return Target{Scope: Repository, Surface: s, Access: a, Owner: owner, Name: repo, AnonReadable: true}
}

func hasSegPrefix(rest, seg string) bool {
	return strings.HasPrefix(rest, seg+"/")
}

// ErrBadLFSBatch marks a Git LFS batch request whose operation cannot be read.
var ErrBadLFSBatch = errors.New("git lfs batch request")

// LFSBatchAccess reads the operation of a Git LFS batch request body:
// "download" reads, "upload" writes. A body that is not a JSON object with
// exactly one known operation is refused: the gateway must not check a
// download that the host then treats as an upload.
func LFSBatchAccess(body []byte) (Access, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Write, fmt.Errorf("%w: the body is not a JSON object", ErrBadLFSBatch)
	}
	op, seen := "", false
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return Write, fmt.Errorf("%w: %w", ErrBadLFSBatch, err)
		}
		// Keys compare case-insensitively, as Go's own JSON decoding of a
		// host would: "Operation" must not slip an upload past the check.
		if k, _ := key.(string); !strings.EqualFold(k, "operation") {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return Write, fmt.Errorf("%w: %w", ErrBadLFSBatch, err)
			}
			continue
		}
		if seen {
			return Write, fmt.Errorf("%w: \"operation\" is given twice", ErrBadLFSBatch)
		}
		seen = true
		if err := dec.Decode(&op); err != nil {
			return Write, fmt.Errorf("%w: \"operation\" is not a string", ErrBadLFSBatch)
		}
	}
	if _, err := dec.Token(); err != nil {
		return Write, fmt.Errorf("%w: %w", ErrBadLFSBatch, err)
	}
	if dec.More() {
		return Write, fmt.Errorf("%w: data after the JSON object", ErrBadLFSBatch)
	}
	switch op {
	case "download":
		return Read, nil
	case "upload":
		return Write, nil
	}
	return Write, fmt.Errorf("%w: unknown operation %q (want download or upload)", ErrBadLFSBatch, op)
}
