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

/** A form of ``children`` and ``message`` whose submit runs ``submit`` (the page does not reload; the
 * message is cleared first and shows the error if ``submit`` throws). */
export function actionForm(
  children: (Node | string | null | undefined)[],
  message: HTMLElement,
  submit: () => Promise<unknown> | unknown,
): HTMLFormElement {
  const form = h("form", { class: "form" }, ...children, message);
  form.onsubmit = async (e) => {
    e.preventDefault();
    message.replaceChildren();
    try {
      await submit();
    } catch (err) {
      showError(message, err);
    }
  };
  return form;
}

export interface Page {
  element: HTMLElement;
  destroy(): void;
}
