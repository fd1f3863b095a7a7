-- wrk script for benchmarks/webhook_edge.py: POSTs Evolution `messages.upsert` deliveries,
-- each with a message id never sent before, from `doctors` distinct senders (remoteJid).
--
--   wrk -s benchmarks/webhook_edge.lua <url> -- <template> <tag> <doctors> <max> <out>
--       <secret> <threads> <seconds>
--
-- template  a file with one JSON body containing @@JID@@, @@ID@@, @@TS@@ and @@N@@
--           (written by webhook_edge.py from Evolution 2.3.6's prepareMessage shape)
-- tag       8 hex digits, unique per wrk run: ids never repeat across runs or targets
-- doctors   how many distinct senders; request n of thread t writes as doctor
--           (n * threads + t) % doctors, so the threads cover the senders together
-- max       stop sending after this many requests per thread (0: no limit)
-- out       file the summary is written to, one JSON object
-- secret    sent as `Authorization: Bearer <secret>` to every target alike
-- threads   wrk's -t, for the doctor numbering above
-- seconds   stop sending after this long (the measured window)
--
-- A run does not end with requests in flight: after the window (or `max`) no connection
-- sends again (delay() parks it) and the thread waits for every answer, then drops the file
-- <out>.thread<tid> and stops; webhook_edge.py ends wrk with SIGINT once all threads have.
-- So every request sent has its status counted, and the store can be checked exactly:
-- rows stored = 2xx answers. wrk's own -d is only a safety net, longer than the window.
-- Throughput is the 2xx answers received inside the window divided by the window.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
int clock_gettime(int clk_id, wrk_timespec *tp);
]])
local ts = ffi.new("wrk_timespec")
local function now()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local pieces, keys, tag, doctors, max_requests, done_path, headers
local nthreads, deadline = 1, 0
local stopping = false
-- Sends granted by delay(): wrk builds the request (request()) only on a later turn of its
-- event loop, so counting at request() alone would let several connections pass the
-- limit check at once and overshoot it.
local granted = 0
-- wrk 4.1 calls request() once in the first thread's state before any connection exists,
-- to check the script (wrk.c main: script_verify_request); that call sends nothing.
local verified = false
-- Globals, not locals: done() reads them from each thread with thread:get().
sent, answered, ok, ok_in_window, bad, codes = 0, 0, 0, 0, 0, {}
out_path, window = nil, 0

local function split(template)
   -- The template in pieces around each placeholder, so a request is one table.concat.
   local parts, names, pos = {}, {}, 1
   while true do
      local s, e, key = string.find(template, "@@(%u+)@@", pos)
      if not s then break end
      table.insert(parts, string.sub(template, pos, s - 1))
      table.insert(names, key)
      pos = e + 1
   end
   table.insert(parts, string.sub(template, pos))
   return parts, names
end

function init(args)
   local f = assert(io.open(args[1], "rb"))
   local template = f:read("*a")
   f:close()
   pieces, keys = split(template)
   tag = args[2]
   doctors = tonumber(args[3])
   max_requests = tonumber(args[4])
   out_path = args[5]
   done_path = args[5] .. ".thread" .. tid
   headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. args[6],
   }
   nthreads = tonumber(args[7])
   local start = now()
   deadline = start + tonumber(args[8])
   verified = tid ~= 0
   window = tonumber(args[8])
end

local function finish_if_drained()
   if stopping and answered == granted then
      local f = assert(io.open(done_path, "w"))
      f:close()
      wrk.thread:stop()
   end
end

function delay()
   -- Called before every request: past the window, park the connection (an hour).
   if stopping or now() >= deadline or (max_requests > 0 and granted >= max_requests) then
      if not stopping then
         stopping = true
         finish_if_drained()
      end
      return 3600000
   end
   granted = granted + 1
   return 0
end

local function build(seq)
   local n = seq * nthreads + tid
   local values = {
      -- 13 digits like a Brazilian mobile (55 11 9xxxx-xxxx), one per doctor
      JID = string.format("5511%09d", 970000000 + (n % doctors)),
      -- 32 upper-case hex digits: Baileys' getDevice reads that as an Android id
      ID = string.format("%s%04X%012X%08X", tag, tid, seq, 0),
      TS = tostring(os.time()),
      N = tostring(n),
   }
   local out = { pieces[1] }
   for i, key in ipairs(keys) do
      out[#out + 1] = values[key]
      out[#out + 1] = pieces[i + 1]
   end
   return wrk.format("POST", nil, headers, table.concat(out))
end

function request()
   if not verified then
      verified = true
      return build(0)
   end
   sent = sent + 1
   if sent > granted then
      granted = sent -- a connection's first request does not go through delay()
   end
   return build(sent)
end

function response(status, _, _)
   answered = answered + 1
   if status >= 200 and status < 300 then
      ok = ok + 1
      if now() < deadline then
         ok_in_window = ok_in_window + 1
      end
   else
      bad = bad + 1
      codes[status] = (codes[status] or 0) + 1
   end
   finish_if_drained()
end

function done(summary, latency, _)
   local t = { sent = 0, answered = 0, ok = 0, ok_in_window = 0, bad = 0 }
   local all_codes = {}
   for _, thread in ipairs(threads) do
      for key, _ in pairs(t) do
         t[key] = t[key] + thread:get(key)
      end
      for code, count in pairs(thread:get("codes")) do
         all_codes[code] = (all_codes[code] or 0) + count
      end
   end
   local code_list = {}
   for code, count in pairs(all_codes) do
      table.insert(code_list, string.format('"%d": %d', code, count))
   end
   local e = summary.errors
   -- done() runs in wrk's main Lua state, where init() never ran: ask a thread.
   local f = assert(io.open(threads[1]:get("out_path"), "w"))
   f:write(string.format(
      '{"sent": %d, "answered": %d, "ok_2xx": %d, "ok_in_window": %d, "window_s": %.3f, '
         .. '"non_2xx": %d, "codes": {%s}, "requests": %d, "duration_us": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
      t.sent, t.answered, t.ok, t.ok_in_window, threads[1]:get("window"), t.bad,
      table.concat(code_list, ", "), summary.requests, summary.duration,
      e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean))
   f:close()
end
