-- wrk script for `make load` (cargo xtask load): a mix of public and authenticated
-- routes through the gateway, counted per route, per rate-limit key and per status.
--
-- wrk ... -s benches/load.lua URL -- TOKENS_FILE IDNOS_FILE ADDRESSES RESULTS_FILE
--   TOKENS_FILE  one access token a line; the first is the "hot" user
--   IDNOS_FILE   one company IDNO a line
--   ADDRESSES    how many anonymous client addresses to simulate (X-Forwarded-For,
--                the gateway trusts one proxy in front); one more is the hot address
--   RESULTS_FILE where done() writes "route key status count" lines
-- LOAD_DELAY_MS (environment) makes each connection pause between requests, for a
-- steady, moderate load instead of as fast as the services answer.
--
-- Every request carries an X-Request-Id naming its route and key; every response
-- (the gateway's own 429s included) returns it, so response() can attribute
-- statuses without knowing which connection a response came from.

-- name, method, path builder, access: "ops" (the gateway's own, not limited),
-- "public" (sent anonymously: limited per client address) or "bearer" (per user).
local routes = {
  { "health",            "GET", function() return "/health" end, "ops", 4 },
  { "openapi",           "GET", function() return "/openapi.json" end, "ops", 2 },
  { "jwks",              "GET", function() return "/.well-known/jwks.json" end, "public", 4 },
  { "companies_search",  "GET", function(c) return "/api/v1/companies?q=" .. c.word .. "&per_page=20" end, "public", 14 },
  { "companies_filter",  "GET", function() return "/api/v1/companies?status=active&sort=-registered_at&page=2" end, "public", 6 },
  { "company",           "GET", function(c) return "/api/v1/companies/" .. c.idno end, "public", 16 },
  { "company_history",   "GET", function(c) return "/api/v1/companies/" .. c.idno .. "/history" end, "public", 6 },
  { "users_me",          "GET", function() return "/api/v1/users/me" end, "bearer", 18 },
  { "watchlist",         "GET", function() return "/api/v1/watchlist" end, "bearer", 12 },
  { "notifications",     "GET", function() return "/api/v1/notifications?per_page=10" end, "bearer", 12 },
  { "watch",             "PUT", function(c) return "/api/v1/watchlist/" .. c.idno end, "bearer", 6 },
}
local words = { "chisinau", "srl", "comert", "balti", "vinaria", "constructii", "servicii", "agro" }
-- Share of a class's requests sent as its hot key (far above the quota on purpose).
local HOT_SHARE = 0.08

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function lines(path)
  local out = {}
  local f = assert(io.open(path, "r"))
  for line in f:lines() do
    if #line > 0 then table.insert(out, line) end
  end
  f:close()
  return out
end

local tokens, idnos, addresses, total_weight, n, delay_ms
-- Globals: done() reads them from each thread with thread:get().
counts, results = {}, nil

function init(args)
  tokens = lines(args[1])
  idnos = lines(args[2])
  addresses = tonumber(args[3])
  results = args[4]
  assert(#tokens >= 2 and #idnos >= 1 and addresses and addresses >= 1 and results, "bad arguments")
  total_weight = 0
  for _, r in ipairs(routes) do total_weight = total_weight + r[5] end
  delay_ms = tonumber(os.getenv("LOAD_DELAY_MS") or "0") or 0
  counts = {}
  n = 0
  math.randomseed(1000 + tid)
end

local function pick_route()
  local x = math.random() * total_weight
  for i, r in ipairs(routes) do
    x = x - r[5]
    if x <= 0 then return i, r end
  end
  return #routes, routes[#routes]
end

function request()
  n = n + 1
  local i, r = pick_route()
  local c = { idno = idnos[math.random(#idnos)], word = words[math.random(#words)] }
  local key, headers
  if r[4] == "ops" then
    key = "o"
    headers = {}
  elseif r[4] == "public" then
    if math.random() < HOT_SHARE then
      key = "ah"
      headers = { ["X-Forwarded-For"] = "10.255.255.254" }
    else
      local a = math.random(addresses) - 1
      key = "a" .. a
      headers = { ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(a / 65536) % 256, math.floor(a / 256) % 256, a % 256) }
    end
  else
    local u
    if math.random() < HOT_SHARE then
      key, u = "uh", 1
    else
      u = math.random(2, #tokens)
      key = "u" .. (u - 1)
    end
    headers = { ["Authorization"] = "Bearer " .. tokens[u] }
  end
  headers["X-Request-Id"] = string.format("ld-%d-%s-%d-%d", i, key, tid, n)
  return wrk.format(r[2], r[3](c), headers, nil)
end

function response(status, headers, body)
  local id = headers["x-request-id"] or headers["X-Request-Id"] or ""
  local route, key = string.match(id, "^ld%-(%d+)%-(%w+)%-")
  local k = (route and routes[tonumber(route)][1] or "?") .. " " .. (key or "?") .. " " .. status
  counts[k] = (counts[k] or 0) + 1
end

if tonumber(os.getenv("LOAD_DELAY_MS") or "0") > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do merged[k] = (merged[k] or 0) + v end
  end
  -- done() runs in wrk's main Lua state: init() (and its arguments) ran in the threads'.
  local f = assert(io.open(threads[1]:get("results"), "w"))
  for k, v in pairs(merged) do f:write(k, " ", v, "\n") end
  f:close()
  local e = summary.errors
  io.write(string.format("LOAD requests %d duration_us %d connect %d read %d write %d timeout %d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("LOAD p%s_us %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("LOAD max_us %d\n", latency.max))
end
