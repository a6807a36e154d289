// The reference example's func.js as a handler on Fn's Node FDK (@fnproject/fdk):
// the same answer, but one node process serves every call (format http-stream)
// instead of a node started per call (default contract, hotwrap).
const fdk = require('@fnproject/fdk');

fdk.handle(function (input, ctx) {
  let name = "World";
  if (input) {
    name = input;
  }
  ctx.responseContentType = 'text/plain'; // the text as it is, not a JSON string
  return `Hello ${name} from Node!\n`;
}, { inputMode: 'string' });
