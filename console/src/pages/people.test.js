import { describe, expect, it } from 'vitest';
import { isMasked, strings } from './people.jsx';

describe('masked phones and emails', () => {
  it('notices a masked phone or email among the identifiers', () => {
    expect(isMasked({ identifiers: [{ type: 'phone', value: '+*********678' }] })).toBe(true);
    expect(isMasked({ identifiers: [{ type: 'email', value: 'a***@example.com' }] })).toBe(true);
  });

  it('does not offer a reveal when nothing is masked', () => {
    expect(isMasked({ identifiers: [{ type: 'phone', value: '+886912345678' }, { type: 'member_id', value: 'M***' }] })).toBe(false);
    expect(isMasked(null)).toBe(false);
  });

  it('says so in both languages', () => {
    for (const key of ['maskedNote', 'reveal', 'revealedNote', 'hide']) {
      expect(strings.en[key]).toBeTruthy();
      expect(strings['zh-TW'][key]).toBeTruthy();
    }
  });
});
