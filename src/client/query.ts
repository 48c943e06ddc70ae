/** `url` with these query parameters set; an undefined one is left out. */
export function withQuery(url: string, params: Readonly<Record<string, string | undefined>>): string {
  const parsed = new URL(url);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) parsed.searchParams.set(name, value);
  return parsed.toString();
}
