// The SNI matcher lives in routing (src/routing/sni_match.ts): the table builder checks the
// names services claim with it, and the engine compiles it per listener. Re-exported here so the
// SNI code reads as one unit.
export {
  compileSniMatcher,
  normalizeSniName,
  type SniClaim,
  type SniMatcher,
  type SniPick,
  type SniProblem,
} from "../../routing/sni_match.ts";
