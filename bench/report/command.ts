export async function reportCommand(_o: { out: string; quick: boolean; from?: string }): Promise<void> {}
