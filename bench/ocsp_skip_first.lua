-- wrk script for bench/ocsp: load a server without wrk's probe connection.
--
-- Before starting its threads, wrk resolves the target through
-- wrk.resolve (src/wrk.lua), which calls wrk.connect on every address it
-- finds: a TCP connection opened and closed at once, without a byte sent,
-- only to learn whether the address answers. OpenSSL 3.0's `openssl ocsp`
-- responder spins at 100% CPU on such a connection and stops answering
-- (openssl/openssl#31129). wrk calls wrk.resolve from the global `wrk`
-- table after this file is loaded, so replacing it here keeps the lookup
-- and drops the probe; the load connections themselves all send requests.
wrk.resolve = function(host, service)
   wrk.addrs = wrk.lookup(host, service)
end

-- Optional: `wrk ... -s ocsp_skip_first.lua URL -- post FILE` sends the DER
-- request in FILE as POST application/ocsp-request instead of the URL's GET.
function init(args)
   local file = nil
   for i = 0, #args do
      if args[i] == "post" then file = args[i + 1] end
   end
   if file then
      local f = assert(io.open(file, "rb"))
      wrk.body = f:read("*a")
      f:close()
      wrk.method = "POST"
      wrk.path = "/"
      wrk.headers["Content-Type"] = "application/ocsp-request"
   end
end
