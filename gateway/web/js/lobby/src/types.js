// The contract types the page uses (generated from the server's contracts), and the shapes of the
// two games' states (docs/games.md), which the contracts leave as any JSON.
export const MODES = ["tic-tac-toe", "relay"];
export const DEFAULT_REGION = "eu-west";
