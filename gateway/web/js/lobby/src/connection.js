// The connection state in the header: connected, reconnecting…, offline.
import { byTestId } from "./dom.js";
let last = "none";
export function showConnection(state = last) {
    last = state;
    const pill = byTestId("connection-state");
    let [label, kind] = ["offline", "offline"];
    if (state === "open")
        [label, kind] = ["connected", "connected"];
    else if (state === "connecting")
        [label, kind] = ["connecting…", "reconnecting"];
    else if (state === "reconnecting") {
        [label, kind] = navigator.onLine ? ["reconnecting…", "reconnecting"] : ["offline", "offline"];
    }
    pill.textContent = state === "none" ? "not logged in" : label;
    pill.dataset["state"] = state === "none" ? "none" : kind;
}
export function watchNetwork() {
    window.addEventListener("online", () => showConnection());
    window.addEventListener("offline", () => showConnection());
}
