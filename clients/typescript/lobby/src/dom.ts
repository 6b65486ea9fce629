// A tiny DOM helper: build elements in one expression, find them by their test id.

type Listener = (event: Event) => void;
export type Attr = string | number | boolean | null | undefined | Listener;
export type Child = Node | string | number | null | undefined | false | Child[];

/**
 * `h("button", { class: "primary", testid: "login", onclick: go }, "Log in")`.
 * `testid` becomes `data-testid`, `on…` with a function adds a listener, `true` sets an empty
 * attribute, `false`/`null`/`undefined` leave it out. Never a `style` attribute: the page's CSP
 * forbids inline styles, so looks come from classes in lobby.css.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value);
    } else if (value === true) {
      element.setAttribute(attrName(name), "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(attrName(name), String(value));
    }
  }
  element.append(...flatten(children));
  return element;
}

function attrName(name: string): string {
  return name === "testid" ? "data-testid" : name;
}

function flatten(children: Child[]): (Node | string)[] {
  const out: (Node | string)[] = [];
  for (const child of children) {
    if (Array.isArray(child)) out.push(...flatten(child));
    else if (child instanceof Node) out.push(child);
    else if (typeof child === "string" || typeof child === "number") out.push(String(child));
  }
  return out;
}

/** Replaces an element's children. */
export function fill(element: Element, ...children: Child[]): void {
  element.replaceChildren(...flatten(children));
}

/** The element with this `data-testid` (the page's own ids: it must exist). */
export function byTestId<T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T {
  const element = root.querySelector<T>(`[data-testid="${id}"]`);
  if (element === null) throw new Error(`no element with data-testid="${id}"`);
  return element;
}

/** Shows or hides an element (the `hidden` attribute; lobby.css makes it win over display rules). */
export function show(element: HTMLElement, visible: boolean): void {
  element.hidden = !visible;
}

/** A `<select>` of values, with the given one selected. */
export function select(testid: string, values: readonly string[], selected?: string): HTMLSelectElement {
  return h(
    "select",
    { testid },
    values.map((value) => h("option", { value, selected: value === selected }, value)),
  );
}
