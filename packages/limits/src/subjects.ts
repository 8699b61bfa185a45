/**
 * Failure-throttle subjects. A throttle blocks *sources*: an address, or an address together with
 * the name it tried (a key id, a user name). Never a name alone: key ids travel in every request
 * and log, and user names are guessable, so a block on a name lets anyone lock its owner out from
 * everywhere (issue #11) while protecting nothing a 256-bit secret or a hashed password needs.
 */

/**
 * The subject of every failure from one source address.
 *
 * @example
 * addressSubject('203.0.113.7'); // 'addr:203.0.113.7'
 */
export function addressSubject(sourceAddress: string): string {
  return `addr:${sourceAddress}`;
}

/**
 * The subject of the failures from one source address that name one key id or user name. The
 * address is length-prefixed so that no (address, name) pair can spell another pair's subject.
 *
 * @example
 * addressNameSubject('203.0.113.7', 'hk_live_1'); // 'addr+name:11:203.0.113.7:hk_live_1'
 */
export function addressNameSubject(sourceAddress: string, name: string): string {
  return `addr+name:${sourceAddress.length}:${sourceAddress}:${name}`;
}
