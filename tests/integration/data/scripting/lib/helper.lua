-- required by utilities.lua as require("lib.helper"), from the script's folder
return { greet = function(name) return "hello " .. name end }
