/**
 * What `flashq --version` prints. The commit and build date are baked in by build.ts (`define`);
 * running from source shows `source` instead, so a report always says which one ran.
 */
import packageJson from '../../package.json' with { type: 'json' }

export const version: string = packageJson.version
export const commit: string = process.env.FLASHQ_COMMIT ?? 'source'
export const buildDate: string = process.env.FLASHQ_BUILD_DATE ?? 'not built'

export function versionText(): string {
  return `flashq ${version}\ncommit ${commit}\nbuilt ${buildDate}\nbun ${Bun.version} ${process.platform}-${process.arch}\n`
}
