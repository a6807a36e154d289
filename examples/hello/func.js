// hotfn's hello function: reads its whole input, greets it.
const fs = require("fs");
let name = "World";
try {
  const input = fs.readFileSync(0).toString();
  if (input) name = input;
} catch (e) {}
console.log("Hello", name, "from Node!");
