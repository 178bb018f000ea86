// A reference HTTP/1.1 server for gateway/http1_differential_test.ts: Node's `node:http`, whose
// parser is llhttp in its strict (default) mode. It answers every request it accepts with what it
// parsed (`x-probe: METHOD PATH` and the body), and every request llhttp refuses with a 400 naming
// llhttp's error code, then closes. It prints its port as one JSON line, and exits when its stdin
// ends, so it never outlives the test that started it.
import http from "node:http";
import process from "node:process";

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    // The path alone (an absolute-form target too), as the gateway's tests see it.
    const path = new URL(req.url, "http://reference").pathname;
    const body = Buffer.concat(chunks);
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": body.length,
      "x-probe": `${req.method} ${path}`,
    });
    res.end(body);
  });
});

// Node's default answer to a refused request is the same 400 without the reason: the reason helps
// a failing comparison say why.
server.on("clientError", (error, socket) => {
  if (socket.writable && socket.bytesWritten === 0) {
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nx-reference-error: ${error.code}\r\n` +
        "connection: close\r\ncontent-length: 0\r\n\r\n",
    );
  } else {
    socket.destroy();
  }
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  // Deno runs this file too, through its Node compatibility (not llhttp): it says so.
  const deno = globalThis.Deno?.version.deno;
  const { node, llhttp } = { node: process.version, llhttp: process.versions.llhttp };
  console.log(JSON.stringify({ port, node, llhttp, deno }));
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
