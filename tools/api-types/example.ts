// The frontend's calls, typed by the generated package (index.d.ts, from
// docs/openapi.json): the member list, a member's detail, a PATCH. `tsc --strict` over
// this file fails when a release changes what these calls rely on (scripts/check-api-types).
import type { components, paths } from "./index";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type MemberList = Json<paths["/api/v1/users"]["get"]["responses"][200]>;
type MemberDetail = Json<paths["/api/v1/users/{id}"]["get"]["responses"][200]>;
type MemberPatch = Json<NonNullable<paths["/api/v1/users/{id}"]["patch"]["requestBody"]>>;
type ErrorBody = components["schemas"]["ErrorBody"];

const base = "https://wadot-api.wafflestudio.com";

export async function listMembers(generation?: string): Promise<MemberList> {
  const query = new URLSearchParams({ limit: "50", ...(generation ? { generation } : {}) });
  const answer = await fetch(`${base}/api/v1/users?${query}`);
  if (!answer.ok) throw new Error(((await answer.json()) as ErrorBody).detail);
  return (await answer.json()) as MemberList;
}

export function cardOf(member: MemberList[number]): string {
  const positions = member.positions.map((p) => p.name).join(", ");
  const teams = member.teams.map((t) => t.name).join(", ");
  return `${member.last_name}${member.first_name} (${member.generation ?? "?"}) ${positions} ${teams}`;
}

export async function showMember(id: number, token?: string): Promise<MemberDetail> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const answer = await fetch(`${base}/api/v1/users/${id}`, { headers });
  if (!answer.ok) throw new Error(((await answer.json()) as ErrorBody).detail);
  const member = (await answer.json()) as MemberDetail;
  const links: string[] = member.sns_accounts.map((s) => s.url);
  void links;
  return member;
}

export async function updateMember(id: number, token: string, patch: MemberPatch): Promise<MemberDetail> {
  const answer = await fetch(`${base}/api/v1/users/${id}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(patch),
  });
  if (!answer.ok) throw new Error(((await answer.json()) as ErrorBody).detail);
  return (await answer.json()) as MemberDetail;
}

// A PATCH sets what it names and clears with null where the contract allows it.
export const introduce = (id: number, token: string) =>
  updateMember(id, token, { introduction: "안녕하세요", github_id: null, positions: ["백엔드"] });

// What the contract refuses is refused at compile time too.
// @ts-expect-error: a username cannot be cleared (not nullable in UserPatchBody)
export const clearUsername: MemberPatch = { username: null };
// @ts-expect-error: flags are booleans
export const badFlag: MemberPatch = { is_active: "yes" };
