// hotfn's hello function on Fn's Node FDK (@fnproject/fdk, in hotfn/node): one node
// process serves every call.
const fdk = require("@fnproject/fdk");

fdk.handle(function (input, ctx) {
  ctx.responseContentType = "text/plain"; // the text as it is, not a JSON string
  return `Hello ${input || "World"} from Node!\n`;
}, { inputMode: "string" });
