// The SCIM filter grammar (RFC 7644 §3.4.2.2), built with chevrotain rather than scimmy's Filter class.
// scimmy 1.3.5 parses into an OR-of-ANDs (disjunctive normal form) by rewriting strings: `not (…)` inside
// a group fails ("Unexpected token ')'"), `not (a or b)` loses De Morgan, `not (emails[…])` loses its
// `not`, and the normal form itself grows exponentially with nested groups (a denial-of-service lever).
// None of that can be patched locally without replacing the parser, so the grammar lives here, produces
// a tree of the same size as the text, and filter-match.ts gives it meaning. Deliberate leniencies, as
// scimmy had them and real clients rely on them: keywords and attribute names are case-insensitive
// (RFC 7644 §3.4.2.2, RFC 7643 §2.1), `not` may precede a single comparison without parentheses, and a
// value path may be followed by a sub-attribute comparison (`emails[type eq "work"].value co "x"`).
//
// Size and complexity are bounded before any parsing (input-limits.ts): the parser is a recursive
// descent, so its depth must be bounded, and its cost must not let one request stall the process.
import { EmbeddedActionsParser, Lexer, createToken, type IToken, type TokenType } from "chevrotain";
import { badRequest } from "../shared/errors.ts";
import { FILTER_LIMITS, assertFilterWithinLimits, textProblem } from "./input-limits.ts";

export type CompValue = string | number | boolean | null;
/** A parsed filter: plain JSON (so it can be frozen, stored and compared), as deep as the text's nesting. */
export type FilterAst =
  | { op: "and" | "or"; nodes: FilterAst[] }
  | { op: "not"; node: FilterAst }
  | { op: "attr"; path: string; cmp: string; value?: CompValue }     // cmp "pr" carries no value
  | { op: "valuePath"; path: string; filter: FilterAst };            // attrPath "[" valFilter "]"

// ---- tokens -------------------------------------------------------------------------------------------
const ATTR = "[A-Za-z$][\\w$-]*";
// attrPath = [URI ":"] ATTRNAME *1subAttr; URIs of schemas contain ':' and '.' ("…:enterprise:2.0:User").
const AttrPath = createToken({ name: "AttrPath", pattern: new RegExp(`(?:urn:[\\w.:-]*:)?${ATTR}(?:\\.${ATTR})?`, "i") });
const SubAttr = createToken({ name: "SubAttr", pattern: new RegExp(`\\.${ATTR}`) });
const keyword = (name: string, word: string) => createToken({ name, pattern: new RegExp(word, "i"), longer_alt: AttrPath });
const And = keyword("And", "and");
const Or = keyword("Or", "or");
const Not = keyword("Not", "not");
const Pr = keyword("Pr", "pr");
const CompareOp = keyword("CompareOp", "(?:eq|ne|co|sw|ew|gt|ge|lt|le)");
const True = keyword("True", "true");
const False = keyword("False", "false");
const Null = keyword("Null", "null");
// compValue strings and numbers are JSON's (RFC 7644 §3.4.2.2 refers to RFC 7159).
const StringLit = createToken({ name: "StringLit", pattern: /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/ });
const NumberLit = createToken({ name: "NumberLit", pattern: /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/ });
const LParen = createToken({ name: "LParen", pattern: /\(/ });
const RParen = createToken({ name: "RParen", pattern: /\)/ });
const LBracket = createToken({ name: "LBracket", pattern: /\[/ });
const RBracket = createToken({ name: "RBracket", pattern: /]/ });
const Space = createToken({ name: "Space", pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });

const TOKENS: TokenType[] = [Space, LParen, RParen, LBracket, RBracket, StringLit, NumberLit,
  And, Or, Not, Pr, CompareOp, True, False, Null, AttrPath, SubAttr];
const lexer = new Lexer(TOKENS, { positionTracking: "onlyOffset", ensureOptimizations: true });


// ---- grammar ------------------------------------------------------------------------------------------
const join = (op: "and" | "or", nodes: FilterAst[]): FilterAst =>
  nodes.length === 1 ? nodes[0]! : { op, nodes: nodes.flatMap((n) => (n.op === op ? n.nodes : [n])) };

class FilterParser extends EmbeddedActionsParser {
  constructor() {
    super(TOKENS, { maxLookahead: 2 });
    this.performSelfAnalysis();
  }

  // FILTER = logExp: `and` binds tighter than `or` (RFC 7644 §3.4.2.2, "Logical Operators" precedence).
  readonly filter = this.RULE("filter", (): FilterAst => {
    const nodes: FilterAst[] = [this.SUBRULE(this.conjunction)];
    this.MANY(() => { this.CONSUME(Or); nodes.push(this.SUBRULE2(this.conjunction)); });
    return join("or", nodes);
  });

  private readonly conjunction = this.RULE("conjunction", (): FilterAst => {
    const nodes: FilterAst[] = [this.SUBRULE(this.unary)];
    this.MANY(() => { this.CONSUME(And); nodes.push(this.SUBRULE2(this.unary)); });
    return join("and", nodes);
  });

  // *1"not" "(" valFilter ")" — and, leniently, `not attrExp`. Repeated nots loop rather than recurse.
  private readonly unary = this.RULE("unary", (): FilterAst => {
    let negations = 0;
    this.MANY(() => { this.CONSUME(Not); negations++; });
    const node = this.OR([
      { ALT: () => { this.CONSUME(LParen); const f = this.SUBRULE(this.filter); this.CONSUME(RParen); return f; } },
      { ALT: () => this.SUBRULE(this.attributeTerm) },
    ]);
    return negations % 2 === 1 ? { op: "not", node } : node;
  });

  // attrExp, or valuePath = attrPath "[" valFilter "]" with an optional sub-attribute comparison after it.
  private readonly attributeTerm = this.RULE("attributeTerm", (): FilterAst => {
    const path = this.CONSUME(AttrPath).image;
    return this.OR([
      {
        ALT: () => {
          this.CONSUME(LBracket);
          const inner = this.SUBRULE(this.filter);
          this.CONSUME(RBracket);
          const sub = this.OPTION(() => {
            const name = this.CONSUME(SubAttr).image.slice(1);
            return { op: "attr" as const, path: name, ...this.SUBRULE(this.comparison) };
          });
          return { op: "valuePath", path, filter: sub ? join("and", [inner, sub]) : inner } satisfies FilterAst;
        },
      },
      { ALT: () => ({ op: "attr", path, ...this.SUBRULE2(this.comparison) }) satisfies FilterAst },
    ]);
  });

  private readonly comparison = this.RULE("comparison", (): { cmp: string; value?: CompValue } => this.OR([
    { ALT: () => { this.CONSUME(Pr); return { cmp: "pr" }; } },
    { ALT: () => ({ cmp: this.CONSUME(CompareOp).image.toLowerCase(), value: this.SUBRULE(this.compValue) }) },
  ]));

  private readonly compValue = this.RULE("compValue", (): CompValue => this.OR([
    { ALT: () => stringValue(this.CONSUME(StringLit)) },
    { ALT: () => Number(this.CONSUME(NumberLit).image) },
    { ALT: () => { this.CONSUME(True); return true; } },
    { ALT: () => { this.CONSUME(False); return false; } },
    { ALT: () => { this.CONSUME(Null); return null; } },
  ]));
}

// The recorded grammar is immutable after performSelfAnalysis; one parser instance, re-fed per call.
const parser = new FilterParser();

function stringValue(t: IToken): string {
  // During grammar recording chevrotain passes placeholder tokens; their image is not JSON.
  if (!t.image.startsWith('"')) return "";
  const value = JSON.parse(t.image) as string;
  // `"\u0000"` and `"\ud800"` are valid JSON escapes but cannot be compared with PostgreSQL text.
  const problem = textProblem(value);
  if (problem) throw invalid(`the filter value at offset ${t.startOffset} ${problem}`);
  return value;
}

const invalid = (message: string) => badRequest("invalidFilter", message);

/**
 * Parses a SCIM filter expression into a FilterAst. Throws 400 invalidFilter for a syntax error, a value
 * with a NUL or an unpaired surrogate (PostgreSQL text cannot hold either), or a filter beyond the limits
 * of input-limits.ts ("too complex"), which are checked before the grammar runs.
 */
export function parseFilter(expression: unknown): FilterAst {
  if (typeof expression !== "string" || expression.trim() === "") throw invalid("the filter is empty");
  assertFilterWithinLimits(expression);
  const lexed = lexer.tokenize(expression);
  if (lexed.errors.length) {
    const at = lexed.errors[0]!.offset;
    throw invalid(`unexpected character ${JSON.stringify(expression.slice(at, at + 12))} at offset ${at} of the filter`);
  }
  assertTokensWithinLimits(lexed.tokens);
  parser.input = lexed.tokens;
  const ast = parser.filter();
  if (parser.errors.length) throw invalid(syntaxMessage(parser.errors[0]!.token, lexed.tokens));
  return ast;
}

/** A message that says what was expected where: the operator, the value, or the token. */
function syntaxMessage(token: IToken, tokens: IToken[]): string {
  const at = Number.isFinite(token.startOffset) ? tokens.indexOf(token) : tokens.length;
  const previous = tokens[at - 1]?.tokenType;
  const got = at < tokens.length ? `'${token.image.slice(0, 40)}' at offset ${token.startOffset}` : "the end of the filter";
  if (previous === AttrPath || previous === SubAttr)
    return `unknown or missing operator: ${got} after '${tokens[at - 1]!.image}'; RFC 7644 §3.4.2.2 defines eq, ne, co, sw, ew, gt, ge, lt, le, pr`;
  if (previous === CompareOp)
    return `missing comparison value after '${tokens[at - 1]!.image}': ${got}; strings are quoted ("…"), numbers, true, false and null are not`;
  return `invalid filter: unexpected ${got} (RFC 7644 §3.4.2.2)`;
}

/** Counts comparisons and nesting on the token stream (linear, no recursion) before the grammar runs. */
function assertTokensWithinLimits(tokens: IToken[]): void {
  let depth = 0, maxDepth = 0, terms = 0;
  for (const t of tokens) {
    const type = t.tokenType;
    if (type === LParen || type === LBracket) maxDepth = Math.max(maxDepth, ++depth);
    else if (type === RParen || type === RBracket) depth--;
    else if (type === CompareOp || type === Pr) terms++;
  }
  if (terms > FILTER_LIMITS.maxTerms) throw invalid(`filter too complex: ${terms} comparisons (at most ${FILTER_LIMITS.maxTerms})`);
  if (maxDepth > FILTER_LIMITS.maxDepth) throw invalid(`filter too complex: nested ${maxDepth} levels deep (at most ${FILTER_LIMITS.maxDepth})`);
}

/**
 * The number of OR-of-AND branches scimmy's parser would expand `ast` into (its disjunctive normal form, with
 * `not` pushed down by De Morgan), capped at `cap`. scimmy still parses the value filters of PATCH paths
 * (RFC 7644 §3.5.2, inside its PatchOp) and that expansion is exponential: `[(a or b) and (c or d) and …]`
 * with 16 groups is 65,536 branches and seconds of CPU. dialect.ts refuses such paths before scimmy runs.
 */
export function normalFormSize(ast: FilterAst, cap = 1_000_000): number {
  const size = (n: FilterAst, negated: boolean): number => {
    switch (n.op) {
      case "not": return size(n.node, !negated);
      case "attr": case "valuePath": return n.op === "valuePath" ? size(n.filter, negated) : 1;
      default: {
        const parts = n.nodes.map((c) => size(c, negated));
        const conjunctive = (n.op === "and") !== negated;
        return Math.min(cap, conjunctive ? parts.reduce((a, b) => a * b, 1) : parts.reduce((a, b) => a + b, 0));
      }
    }
  };
  return size(ast, false);
}
