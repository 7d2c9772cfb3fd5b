// The subset of Consul's `filter=` expression language the emulator needs (reference section 3):
// ==, !=, in, not in, contains, not contains, is empty, is not empty, matches, not matches,
// and, or, not, parentheses; selectors checked against an endpoint's selector list.

type Tok =
  | { t: "str"; v: string }
  | { t: "num"; v: string }
  | { t: "id"; v: string }
  | { t: "op"; v: "==" | "!=" | "(" | ")" };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let v = "";
      i++;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === "\\" && i + 1 < src.length) {
          const n = src[i + 1]!;
          v += n === "n" ? "\n" : n === "t" ? "\t" : n;
          i += 2;
        } else {
          v += src[i++];
        }
      }
      if (src[i] !== '"') throw new Error("unterminated string literal");
      i++;
      out.push({ t: "str", v });
    } else if (c === "`") {
      const end = src.indexOf("`", i + 1);
      if (end < 0) throw new Error("unterminated raw string literal");
      out.push({ t: "str", v: src.slice(i + 1, end) });
      i = end + 1;
    } else if (src.startsWith("==", i) || src.startsWith("!=", i)) {
      out.push({ t: "op", v: src.slice(i, i + 2) as "==" | "!=" });
      i += 2;
    } else if (c === "(" || c === ")") {
      out.push({ t: "op", v: c });
      i++;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(src.slice(i));
      if (!m) throw new Error(`unexpected "${c}"`);
      out.push({ t: "num", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      // Selectors: dotted names, with ["key"] map indexing.
      let v = "";
      while (i < src.length) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
        if (m) {
          v += m[0];
          i += m[0].length;
        } else if (src[i] === "." && /[A-Za-z_]/.test(src[i + 1] ?? "")) {
          v += ".";
          i++;
        } else if (src.startsWith('["', i)) {
          const end = src.indexOf('"]', i + 2);
          if (end < 0) throw new Error("unterminated map key");
          v += `.${src.slice(i + 2, end)}`;
          i = end + 2;
        } else break;
      }
      out.push({ t: "id", v });
    } else {
      throw new Error(`unexpected "${c}"`);
    }
  }
  return out;
}

export type Predicate = (item: unknown) => boolean;

function select(item: unknown, path: string): unknown {
  let cur: unknown = item;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

function contains(hay: unknown, needle: string): boolean {
  if (Array.isArray(hay)) return hay.some((x) => String(x) === needle);
  if (typeof hay === "string") return hay.includes(needle);
  if (hay && typeof hay === "object") return needle in hay;
  return false;
}

/**
 * Compiles `src` against the allowed selectors (a selector is allowed when it equals one, or
 * starts with one followed by "."). Throws with the evaluator's message on any error.
 */
export function compileFilter(src: string, selectors: readonly string[]): Predicate {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const word = (w: string) => {
    const t = toks[p];
    return t?.t === "id" && t.v.toLowerCase() === w;
  };
  const checkSel = (s: string) => {
    if (!selectors.some((a) => s === a || s.startsWith(`${a}.`))) {
      throw new Error(`Selector "${s}" is not valid`);
    }
    return s;
  };
  const value = (): string => {
    const t = toks[p++];
    if (!t || (t.t !== "str" && t.t !== "num" && !(t.t === "id" && /^(true|false)$/.test(t.v)))) {
      throw new Error("expected a value");
    }
    return t.v;
  };

  function parseOr(): Predicate {
    let left = parseAnd();
    while (word("or")) {
      p++;
      const l = left, r = parseAnd();
      left = (x) => l(x) || r(x);
    }
    return left;
  }
  function parseAnd(): Predicate {
    let left = parseUnary();
    while (word("and")) {
      p++;
      const l = left, r = parseUnary();
      left = (x) => l(x) && r(x);
    }
    return left;
  }
  function parseUnary(): Predicate {
    if (word("not")) {
      p++;
      const inner = parseUnary();
      return (x) => !inner(x);
    }
    const t = peek();
    if (t?.t === "op" && t.v === "(") {
      p++;
      const inner = parseOr();
      const close = toks[p++];
      if (close?.t !== "op" || close.v !== ")") throw new Error('expected ")"');
      return inner;
    }
    return parseMatch();
  }
  function parseMatch(): Predicate {
    const t = peek();
    if (!t) throw new Error("unexpected end of expression");
    if (t.t === "str" || t.t === "num") {
      // "<v>" [not] in <Sel>
      const v = value();
      let neg = false;
      if (word("not")) {
        neg = true;
        p++;
      }
      if (!word("in")) throw new Error('expected "in"');
      p++;
      const s = toks[p++];
      if (s?.t !== "id") throw new Error("expected a selector");
      const sel = checkSel(s.v);
      return (x) => contains(select(x, sel), v) !== neg;
    }
    if (t.t !== "id") throw new Error("expected a selector");
    p++;
    const sel = checkSel(t.v);
    const next = peek();
    if (next?.t === "op" && (next.v === "==" || next.v === "!=")) {
      p++;
      const v = value();
      const eq = next.v === "==";
      return (x) => (String(select(x, sel) ?? "") === v) === eq;
    }
    if (word("is")) {
      p++;
      let neg = false;
      if (word("not")) {
        neg = true;
        p++;
      }
      if (!word("empty")) throw new Error('expected "empty"');
      p++;
      return (x) => isEmpty(select(x, sel)) !== neg;
    }
    let neg = false;
    if (word("not")) {
      neg = true;
      p++;
    }
    if (word("contains")) {
      p++;
      const v = value();
      return (x) => contains(select(x, sel), v) !== neg;
    }
    if (word("matches")) {
      p++;
      const re = new RegExp(value());
      return (x) => {
        const s = select(x, sel);
        return (typeof s === "string" && re.test(s)) !== neg;
      };
    }
    throw new Error("expected an operator");
  }

  const pred = parseOr();
  if (p !== toks.length) throw new Error("unexpected trailing input");
  return pred;
}
