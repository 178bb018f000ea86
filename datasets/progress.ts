/**
 * Progress for long work: a bar redrawn in place on a terminal, or a line every tenth of the
 * way otherwise (logs, CI).
 */

/** Reports progress of `total` steps. */
export interface Progress {
  /** Sets how many steps are done, with an optional note (e.g. "3 errors"). */
  update(done: number, note?: string): void;
  /** Ends the bar with a final line. */
  done(note?: string): void;
}

/**
 * Creates a progress reporter.
 *
 * @param label Shown before the bar.
 * @param total Steps in all.
 * @param write Where text goes (stderr, usually).
 * @param isTerminal Redraw in place when true.
 */
export function progress(
  label: string,
  total: number,
  write: (text: string) => void,
  isTerminal: boolean,
): Progress {
  let lastTenth = -1;
  let last = 0;
  const render = (done: number, note: string) => {
    const ratio = total === 0 ? 1 : Math.min(1, done / total);
    const width = 30;
    const filled = Math.round(ratio * width);
    return `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${
      Math.floor(ratio * 100)
    }%${note ? ` ${note}` : ""}`;
  };
  return {
    update(done, note = "") {
      last = done;
      if (isTerminal) {
        write(`\r${render(done, note)}\x1b[K`);
        return;
      }
      const tenth = total === 0 ? 10 : Math.floor((done / total) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        write(`${render(done, note)}\n`);
      }
    },
    done(note = "") {
      if (isTerminal) write(`\r${render(last, note)}\x1b[K\n`);
      else if (lastTenth < 10) write(`${render(last, note)}\n`);
    },
  };
}
