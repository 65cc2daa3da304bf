-- A realistic mix of allowed requests through the gateway: fine-grained
-- and classic PATs on private, public and user-owned repositories, Git
-- fetches, an OAuth token and anonymous calls. Denials are left out: they
-- are answered by the gateway without an upstream round trip, which would
-- flatter it. Every request is allowed by the policy, so all three
-- configurations do the same upstream work.
local approved = "github_pat_11BENCH_approvedFineGrainedTokenForLoadBench"
local pending  = "github_pat_11BENCH_pendingFineGrainedTokenForLoadBench0"
local classic  = "ghp_benchClassicToken000000000000000000"
local oauth    = "gho_benchOAuthToken00000000000000000000"
local basic    = "Basic eC1hY2Nlc3MtdG9rZW46Z2l0aHViX3BhdF8xMUJFTkNIX2FwcHJvdmVkRmluZUdyYWluZWRUb2tlbkZvckxvYWRCZW5jaA=="

local mix = {
  {"GET",  "/api/v3/repos/octo-org/private/pulls?state=open", "token " .. approved},
  {"GET",  "/api/v3/repos/octo-org/private/contents/src/main.go", "Bearer " .. approved},
  {"POST", "/api/v3/repos/octo-org/private/issues", "token " .. approved},
  {"GET",  "/api/v3/repos/open-org/private/issues", "token " .. classic},
  {"GET",  "/api/v3/repos/octo-org/public/contents/README.md", "token " .. classic},
  {"GET",  "/api/v3/repos/octo-org/public/commits", "token " .. pending},
  {"GET",  "/api/v3/repos/bob/dotfiles", "token " .. classic},
  {"POST", "/octo-org/private.git/git-upload-pack", basic},
  {"GET",  "/octo-org/private.git/info/refs?service=git-upload-pack", basic},
  {"GET",  "/api/v3/repos/octo-org/private", "token " .. oauth},
  {"GET",  "/api/v3/meta", nil},
  {"GET",  "/api/v3/repos/octo-org/public", nil},
}

local requests = {}
for i, m in ipairs(mix) do
  -- wrk.format adds no Host header of its own when given headers.
  local headers = {Host = "127.0.0.1"}
  if m[3] then headers["Authorization"] = m[3] end
  local body = nil
  if m[1] == "POST" then body = "{}" end
  requests[i] = wrk.format(m[1], m[2], headers, body)
end

local n = 0
request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
