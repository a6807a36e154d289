// A test function on Fn's Node FDK: what it does depends on the call, so that one
// image covers the FDK's API. INPUT_MODE (fn config) picks fdk.handle's inputMode.
const fdk = require("@fnproject/fdk");
const { Readable } = require("stream");

const started = new Date().toISOString(); // per process: tells containers apart

function describe(input) {
  if (Buffer.isBuffer(input)) return { kind: "buffer", bytes: [...input] };
  return { kind: typeof input, value: input };
}

fdk.handle(
  async function (input, ctx) {
    const what = ctx.getHeader("X-Test") || "describe";
    console.error(`node fdk test: ${what} call ${ctx.callID}`);
    switch (what) {
      case "describe":
        return describe(input);
      case "gateway":
        ctx.httpGateway.statusCode = 201;
        ctx.httpGateway.setResponseHeader("X-Answer", "forty-two");
        ctx.httpGateway.setResponseHeader("Content-Type", "text/plain");
        return fdk.rawResult(`${ctx.httpGateway.method} ${ctx.httpGateway.getHeader("X-Asked")}`);
      case "async":
        // A result that is only there after the event loop has run other work.
        await new Promise((resolve) => setImmediate(resolve));
        return { awaited: true, fn: ctx.fnID, started, pid: process.pid };
      case "throw":
        throw new Error("boom from the node handler");
      case "stream": {
        // The first chunk now, the last X-Hold-Ms later: the test reads the first
        // while the handler has not finished.
        const hold = Number(ctx.getHeader("X-Hold-Ms") || "0");
        const stream = new Readable({ read() {} });
        stream.push("first\n");
        setTimeout(() => {
          stream.push("last\n");
          stream.push(null);
        }, hold);
        return fdk.streamResult(stream);
      }
      default:
        return { unknown: what };
    }
  },
  { inputMode: process.env.INPUT_MODE || "json" }
);
