// The package's public surface: Warren (log in, connect), the Client it makes, WarrenError, and
// the contract types generated from the server.
export { Warren } from "./warren.js";
export { Client } from "./client.js";
export { WarrenError } from "./errors.js";
export { CLIENT_METHODS } from "./generated/methods.js";
