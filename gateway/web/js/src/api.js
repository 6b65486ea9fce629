// The typed face of the socket methods and events, all derived from the generated contracts:
// `client.rooms.create(…)` and friends are built at run time from CLIENT_METHODS and typed from
// `Methods`, so a method that leaves the contracts leaves the client, and code calling it fails
// to compile.
import { CLIENT_METHODS } from "./generated/methods.js";
export function buildMethods(call) {
    const namespaces = {};
    for (const method of CLIENT_METHODS) {
        const dot = method.indexOf(".");
        const service = camelCase(method.slice(0, dot));
        const name = camelCase(method.slice(dot + 1));
        const namespace = (namespaces[service] ??= {});
        namespace[name] = (params, options) => call(method, params, options);
    }
    for (const namespace of Object.values(namespaces))
        Object.freeze(namespace);
    return namespaces;
}
function camelCase(name) {
    return name.replace(/_([a-z0-9])/g, (_, letter) => letter.toUpperCase());
}
