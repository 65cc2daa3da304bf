-- A restricted token's /user/repos page: the classic PAT that octo-org
-- restricts asks for 30 GitHub-sized repositories (about 5 KB each) of
-- several owners; through the gateway its answer is checked element by
-- element (SPEC §10) and loses octo-org's private and internal ones.
local classic = "ghp_benchClassicToken000000000000000000"
local req = wrk.format("GET", "/api/v3/user/repos", {Host = "127.0.0.1", Authorization = "token " .. classic})

request = function() return req end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
