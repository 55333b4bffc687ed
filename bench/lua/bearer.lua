-- GET with `Authorization: Bearer <token>`, the token taken in turn from the pool file.
-- Usage: wrk [options] -s bench/lua/bearer.lua URL TOKENS_FILE
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  use_pool(args[1], function(token)
    return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
  end)
end
