// A keyboard-selectable list: j/k (or arrows) move, the selected row is marked for screen
// readers with aria-current and scrolled into view.
export class Selection {
  constructor(container, selector) {
    this.container = container;
    this.selector = selector;
    this.index = -1;
  }

  rows() { return [...this.container.querySelectorAll(this.selector)]; }

  get current() { return this.rows()[this.index] || null; }

  select(index) {
    const rows = this.rows();
    if (!rows.length) { this.index = -1; return null; }
    this.index = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => {
      row.classList.toggle("selected", i === this.index);
      if (i === this.index) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
    });
    const row = rows[this.index];
    row.scrollIntoView({ block: "nearest" });
    return row;
  }

  selectRow(row) { const i = this.rows().indexOf(row); if (i >= 0) this.select(i); }

  move(delta) { return this.select(this.index < 0 ? 0 : this.index + delta); }

  keys() { return { j: () => this.move(1), k: () => this.move(-1), ArrowDown: () => this.move(1), ArrowUp: () => this.move(-1) }; }
}
