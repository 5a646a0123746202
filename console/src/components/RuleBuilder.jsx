import {
  AGGREGATES, ATTRIBUTE_OPS, CHANNELS, EVENT_OPS, IDENTIFIER_TYPES, KINDS, UNITS,
  appendAt, formatValue, getAt, isGroup, newCondition, nodeKind, parseValue, removeAt, setAt, setGroupKind, toggleNot, withAggregate, withOperator,
} from '../rules.js';
import { translate } from '../i18n.js';
import { useApp } from './ui.jsx';

const STRINGS = {
  en: {
    and: 'All of these', or: 'Any of these', not: 'NOT', add: '+ Condition', addGroup: '+ Group', remove: 'Remove',
    attribute: 'Trait or computed trait', tag: 'Tag', event: 'Did an event', reachable: 'Reachable on', consent: 'Consent given', identifier: 'Has an identifier', in_segment: 'In segment',
    field: 'field, e.g. traits.city', value: 'value', tagName: 'tag', tagGroup: 'or tag group', eventName: 'event name', within: 'in the last', allTime: 'all time',
    aggregate: 'measure', property: 'property', purpose: 'purpose', segmentId: 'segment id', unknownNode: 'This condition is edited as JSON:',
    eq: '=', neq: '≠', gt: '>', gte: '≥', lt: '<', lte: '≤', in: 'is one of', contains: 'contains', starts_with: 'starts with', exists: 'exists', not_exists: 'is missing', within_last: 'within the last', before_last: 'before the last',
    count: 'count', sum: 'sum of', min: 'minimum of', max: 'maximum of', days: 'days', hours: 'hours', minutes: 'minutes', empty: 'Add a condition to start.',
  },
  'zh-TW': {
    and: '符合以下全部', or: '符合以下任一', not: '排除', add: '+ 條件', addGroup: '+ 群組', remove: '移除',
    attribute: '屬性或計算屬性', tag: '標籤', event: '發生過事件', reachable: '可觸及管道', consent: '已同意', identifier: '擁有識別碼', in_segment: '屬於分眾',
    field: '欄位，例如 traits.city', value: '值', tagName: '標籤', tagGroup: '或標籤群組', eventName: '事件名稱', within: '最近', allTime: '不限時間',
    aggregate: '計算方式', property: '屬性', purpose: '用途', segmentId: '分眾代碼', unknownNode: '此條件以 JSON 編輯：',
    eq: '=', neq: '≠', gt: '>', gte: '≥', lt: '<', lte: '≤', in: '屬於其中之一', contains: '包含', starts_with: '開頭為', exists: '有值', not_exists: '沒有值', within_last: '在最近', before_last: '早於最近',
    count: '次數', sum: '加總', min: '最小值', max: '最大值', days: '天', hours: '小時', minutes: '分鐘', empty: '請新增條件。',
  },
};

function Select({ value, options, label, onChange, testid }) {
  return (
    <select value={value} onChange={(e) => onChange(e.currentTarget.value)} data-testid={testid}>
      {options.map((o) => (
        <option key={o} value={o}>{label(o)}</option>
      ))}
    </select>
  );
}

function Duration({ value, onChange, t, testid }) {
  const unit = Object.keys(value || { days: 30 })[0];
  const amount = (value || { days: 30 })[unit];
  return (
    <span class="row">
      <input type="number" min="1" value={amount} style={{ width: '5rem' }} onInput={(e) => onChange({ [unit]: Math.max(1, parseInt(e.currentTarget.value || '1', 10)) })} data-testid={`${testid}-amount`} />
      <Select value={unit} options={UNITS} label={t} onChange={(u) => onChange({ [u]: amount })} testid={`${testid}-unit`} />
    </span>
  );
}

function Condition({ node, path, set, t, testid }) {
  const kind = nodeKind(node);
  const body = node[kind];
  const put = (key, value) => set(setAt(node, [kind, key], value));
  const text = (key, placeholder, extra = {}) => (
    <input value={formatValue(body[key])} placeholder={placeholder} onInput={(e) => put(key, e.currentTarget.value)} data-testid={`${testid}-${key}`} {...extra} />
  );
  switch (kind) {
    case 'attribute':
      return (
        <>
          {text('field', t('field'))}
          <Select value={body.op} options={ATTRIBUTE_OPS} label={t} onChange={(op) => set({ attribute: withOperator(body, op) })} testid={`${testid}-op`} />
          {body.op === 'within_last' || body.op === 'before_last' ? (
            <Duration value={body.value} onChange={(v) => put('value', v)} t={t} testid={`${testid}-duration`} />
          ) : body.op === 'exists' || body.op === 'not_exists' ? null : (
            <input value={formatValue(body.value)} placeholder={t('value')} onInput={(e) => put('value', parseValue(e.currentTarget.value, body.op))} data-testid={`${testid}-value`} />
          )}
        </>
      );
    case 'tag':
      return (
        <>
          <input value={body.name || ''} placeholder={t('tagName')} onInput={(e) => set({ tag: e.currentTarget.value ? { name: e.currentTarget.value } : { name: '' } })} data-testid={`${testid}-name`} />
          <input value={body.group || ''} placeholder={t('tagGroup')} onInput={(e) => set({ tag: e.currentTarget.value ? { group: e.currentTarget.value } : { name: '' } })} data-testid={`${testid}-group`} />
        </>
      );
    case 'event': {
      const aggregate = body.aggregate || 'count';
      return (
        <>
          {text('name', t('eventName'))}
          <span>{t('within')}</span>
          <select value={body.within ? 'range' : 'all'} onChange={(e) => set({ event: e.currentTarget.value === 'all' ? (({ within, ...rest }) => rest)(body) : { ...body, within: { last: { days: 30 } } } })} data-testid={`${testid}-window`}>
            <option value="all">{t('allTime')}</option>
            <option value="range">…</option>
          </select>
          {body.within && <Duration value={body.within.last} onChange={(v) => put('within', { last: v })} t={t} testid={`${testid}-within`} />}
          <Select value={aggregate} options={AGGREGATES} label={t} onChange={(a) => set({ event: withAggregate(body, a) })} testid={`${testid}-aggregate`} />
          {aggregate !== 'count' && text('property', t('property'))}
          <Select value={body.op || 'gte'} options={EVENT_OPS} label={t} onChange={(op) => set({ event: { ...body, op, value: body.value ?? 1 } })} testid={`${testid}-op`} />
          <input type="number" value={body.value ?? 1} style={{ width: '6rem' }} onInput={(e) => set({ event: { ...body, op: body.op || 'gte', value: Number(e.currentTarget.value) } })} data-testid={`${testid}-value`} />
        </>
      );
    }
    case 'reachable':
      return <Select value={body.channel} options={CHANNELS} label={(c) => c} onChange={(c) => put('channel', c)} testid={`${testid}-channel`} />;
    case 'consent':
      return (
        <>
          <Select value={body.channel} options={['line', 'email', 'sms']} label={(c) => c} onChange={(c) => put('channel', c)} testid={`${testid}-channel`} />
          {text('purpose', t('purpose'))}
        </>
      );
    case 'identifier':
      return <Select value={body.type} options={IDENTIFIER_TYPES} label={(c) => c} onChange={(c) => put('type', c)} testid={`${testid}-type`} />;
    case 'in_segment':
      return text('segment_id', t('segmentId'));
    default:
      return null;
  }
}

function RawNode({ node, set, t, testid }) {
  return (
    <label>
      {t('unknownNode')}
      <textarea rows="3" cols="50" data-testid={`${testid}-json`} onChange={(e) => {
        try {
          set(JSON.parse(e.currentTarget.value));
        } catch {
          /* keep the last good value until the JSON parses */
        }
      }}>{JSON.stringify(node)}</textarea>
    </label>
  );
}

function Node({ rule, path, onChange, t, testid }) {
  const node = getAt(rule, path);
  const negated = nodeKind(node) === 'not';
  const inner = negated ? node.not : node;
  const innerPath = negated ? [...path, 'not'] : path;
  const set = (value) => onChange(setAt(rule, innerPath, value));
  const kind = nodeKind(inner);
  return (
    <div class="rule-line" data-testid={`${testid}`} data-kind={isGroup(inner) ? 'group' : kind}>
      {path.length > 0 && (
        <label class="row" style={{ flexDirection: 'row' }}>
          <input type="checkbox" checked={negated} onChange={() => onChange(toggleNot(rule, path))} data-testid={`${testid}-not`} />
          {t('not')}
        </label>
      )}
      {isGroup(inner) ? (
        <Group rule={rule} path={innerPath} onChange={onChange} t={t} testid={testid} />
      ) : KINDS.includes(kind) ? (
        <>
          <strong>{t(kind)}</strong>
          <Condition node={inner} path={innerPath} set={set} t={t} testid={testid} />
        </>
      ) : (
        <RawNode node={inner} set={set} t={t} testid={testid} />
      )}
      {path.length > 0 && (
        <button type="button" class="link" onClick={() => onChange(removeAt(rule, path))} data-testid={`${testid}-remove`}>
          {t('remove')}
        </button>
      )}
    </div>
  );
}

function Group({ rule, path, onChange, t, testid }) {
  const group = getAt(rule, path);
  const kind = nodeKind(group);
  const children = group[kind];
  return (
    <div class="rule-group" data-testid={`${testid}-group`}>
      <Select value={kind} options={['and', 'or']} label={t} onChange={(k) => onChange(setGroupKind(rule, path, k))} testid={`${testid}-combine`} />
      {children.length === 0 && <p class="hint">{t('empty')}</p>}
      {children.map((_, i) => (
        <Node key={i} rule={rule} path={[...path, kind, i]} onChange={onChange} t={t} testid={`${testid}-${i}`} />
      ))}
      <div class="row">
        <select value="" onChange={(e) => e.currentTarget.value && onChange(appendAt(rule, path, newCondition(e.currentTarget.value)))} data-testid={`${testid}-add`}>
          <option value="">{t('add')}</option>
          {KINDS.map((k) => (
            <option key={k} value={k}>{t(k)}</option>
          ))}
        </select>
        <button type="button" onClick={() => onChange(appendAt(rule, path, newCondition('group')))} data-testid={`${testid}-add-group`}>
          {t('addGroup')}
        </button>
      </div>
    </div>
  );
}

/** The rule builder: value (rule JSON, a group at the root), onChange(rule). */
export function RuleBuilder({ value, onChange, testid = 'rule' }) {
  const { lang } = useApp();
  const t = (key) => translate(STRINGS, lang, key);
  const rule = isGroup(value) ? value : { and: [value] }; // a single condition is shown inside a group
  return (
    <div data-testid={testid}>
      <Group rule={rule} path={[]} onChange={onChange} t={t} testid={testid} />
    </div>
  );
}
