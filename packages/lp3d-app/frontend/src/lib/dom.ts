/** Tiny DOM helpers. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

export function showError(target: HTMLElement, err: unknown): void {
  target.replaceChildren(h("p", { class: "error", role: "alert", text: err instanceof Error ? err.message : String(err) }));
}

export interface Page {
  element: HTMLElement;
  destroy(): void;
}
