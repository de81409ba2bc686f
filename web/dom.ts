/**
 * A small element builder: the page makes its DOM with createElement and text nodes only, never from
 * HTML strings, so a file name or an error message can never become markup.
 */
type Attributes = Record<string, string | number | boolean | undefined>;
type Child = Node | string | false | null | undefined;

export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((child): child is Node | string => Boolean(child)));
  return element;
};

/** The element with this id, which the page's HTML must have. */
export const byId = <T extends HTMLElement>(id: string, type: new () => T): T => {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return element;
};
