/** The dashboard's icon (a burrow's mouth), served as its favicon and drawn in its header. */

/** The mark alone, as SVG elements sized for a 32×32 view box. */
export const ICON_SHAPES =
  '<rect width="32" height="32" rx="8" fill="#1d4ed8"/>' +
  '<path d="M6 25a10 10 0 0 1 20 0z" fill="#0b1f4d"/>' +
  '<path d="M4 25h24" stroke="#93c5fd" stroke-width="2.5" stroke-linecap="round"/>' +
  '<circle cx="22.5" cy="9.5" r="2.5" fill="#fde68a"/>';

/** The favicon file. */
export const DASHBOARD_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">${ICON_SHAPES}</svg>\n`;
