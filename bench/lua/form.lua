-- POST of a form body, each body taken in turn from the pool file (one URL-encoded body a
-- line). Usage: wrk [options] -s bench/lua/form.lua URL BODIES_FILE
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
  use_pool(args[1], function(body)
    return wrk.format("POST", nil, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Accept"] = "application/json",
    }, body)
  end)
end
