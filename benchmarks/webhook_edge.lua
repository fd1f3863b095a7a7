-- wrk script for benchmarks/webhook_edge.py: POSTs Evolution `messages.upsert` deliveries,
-- each with a message id never sent before, from `doctors` distinct senders (remoteJid).
--
--   wrk -s benchmarks/webhook_edge.lua <url> -- <template> <tag> <doctors> <max> <out> <secret> <threads>
--
-- template  a file with one JSON body containing @@JID@@, @@ID@@, @@TS@@ and @@N@@
--           (written by webhook_edge.py from Evolution 2.3.6's prepareMessage shape)
-- tag       8 hex digits, unique per wrk run: ids never repeat across runs or targets
-- doctors   how many distinct senders; request n of thread t writes as doctor
--           (n * threads + t) % doctors, so the threads cover the senders together
-- max       stop each thread after this many answers and drop a file <out>.thread<tid>
--           (0: run for the whole -d)
-- out       file the summary is written to, one JSON object
-- secret    sent as `Authorization: Bearer <secret>` to every target alike
-- threads   wrk's -t, for the doctor numbering above
--
-- Every response's status is counted (2xx or not), so "non-2xx" is exact rather than
-- wrk's own "status > 399" count.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local tag, doctors, max_requests, done_path, headers
local sent, answered = 0, 0
local nthreads = 1
-- Globals, not locals: done() reads them from each thread with thread:get().
ok, bad, codes = 0, 0, {}
out_path = nil

local function split(template)
   -- The template in pieces around each placeholder, so a request is one table.concat.
   local pieces, keys, pos = {}, {}, 1
   while true do
      local s, e, key = string.find(template, "@@(%u+)@@", pos)
      if not s then break end
      table.insert(pieces, string.sub(template, pos, s - 1))
      table.insert(keys, key)
      pos = e + 1
   end
   table.insert(pieces, string.sub(template, pos))
   return pieces, keys
end

local pieces, keys

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
   nthreads = tonumber(args[7])
   headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. args[6],
   }
end

function request()
   sent = sent + 1
   local n = sent * nthreads + tid
   local values = {
      -- 13 digits like a Brazilian mobile (55 11 9xxxx-xxxx), one per doctor
      JID = string.format("5511%09d", 970000000 + (n % doctors)),
      -- 32 upper-case hex digits: Baileys' getDevice reads that as an Android id
      ID = string.format("%s%04X%012X%08X", tag, tid, sent, 0),
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

function response(status, _, _)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      bad = bad + 1
      codes[status] = (codes[status] or 0) + 1
   end
   answered = answered + 1
   if max_requests > 0 and answered == max_requests then
      -- wrk's main thread sleeps for the whole -d whatever the threads do: this file tells
      -- webhook_edge.py this thread is through, and it ends the run with SIGINT.
      local f = assert(io.open(done_path, "w"))
      f:close()
      wrk.thread:stop()
   end
end

function done(summary, latency, _)
   local total_ok, total_bad, all_codes = 0, 0, {}
   for _, thread in ipairs(threads) do
      total_ok = total_ok + thread:get("ok")
      total_bad = total_bad + thread:get("bad")
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
      '{"requests": %d, "duration_us": %d, "ok_2xx": %d, "non_2xx": %d, "codes": {%s}, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, total_ok, total_bad, table.concat(code_list, ", "),
      e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean))
   f:close()
end
