// The contract types the page uses (generated from the server's contracts), and the shapes of the
// two games' states (docs/games.md), which the contracts leave as any JSON.

export type {
  Account,
  Invited,
  PrivateRoom,
  RatingChanged,
  Room,
  Session,
  Ticket,
} from "../../src/generated/contracts.js";

export const MODES = ["tic-tac-toe", "relay"] as const;
export const DEFAULT_REGION = "eu-west";

/** Tic-tac-toe's state. */
export interface TicTacToe {
  board: ("" | "X" | "O")[];
  turn: string;
  winner: string | null;
  players: [string, string];
  draw: boolean;
}

/** Relay's state: the last command and who sent it. */
export interface Relay {
  from: string | null;
  command: unknown;
  players: string[];
  over: boolean;
}
