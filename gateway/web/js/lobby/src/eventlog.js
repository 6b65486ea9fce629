// The event log in the side bar: the type and seq of each event received, newest first, the last
// 50, with the highest seq in `data-last-seq`. Kept in sessionStorage so a reload keeps it.
import { byTestId, fill, h } from "./dom.js";
import { saved } from "./storage.js";
const KEEP = 50;
let entries = [];
export function initEventLog() {
    entries = saved.log();
    render();
}
export function logEvent(seq, type) {
    entries.unshift({ seq, type });
    entries.length = Math.min(entries.length, KEEP);
    saved.setLog(entries);
    render();
}
export function clearEventLog() {
    entries = [];
    render();
}
function render() {
    const log = byTestId("event-log");
    const last = entries.reduce((max, entry) => Math.max(max, entry.seq), 0);
    log.dataset["lastSeq"] = String(last);
    document.body.dataset["lastSeq"] = String(last);
    fill(log, entries.length === 0
        ? h("li", { class: "muted" }, "No events yet")
        : entries.map((entry) => h("li", { testid: "event", "data-seq": entry.seq, "data-type": entry.type }, h("span", { class: "seq" }, `#${entry.seq}`), " ", entry.type)));
}
