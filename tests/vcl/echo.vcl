# Test VCL for tlsterm's end-to-end suite (tests/common/mod.rs fills in the origin address).
#
# Job: forward everything to the in-process test origin without caching (return (pass)), and copy
# the headers tlsterm added to the request back into the response as X-Echo-*, so a client of
# tlsterm can see what the cache layer received.
vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "@ORIGIN_PORT@";
    .connect_timeout = 2s;
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 60s;
}

sub vcl_recv {
    return (pass);
}

sub vcl_deliver {
    set resp.http.X-Echo-Client-IP = req.http.X-Client-IP;
    set resp.http.X-Echo-Client-Port = req.http.X-Client-Port;
    set resp.http.X-Echo-Forwarded-For = req.http.X-Forwarded-For;
    set resp.http.X-Echo-Forwarded-Proto = req.http.X-Forwarded-Proto;
    set resp.http.X-Echo-Connection-Properties = req.http.X-Connection-Properties;
    set resp.http.X-Echo-Host = req.http.Host;
}
