// The segment rule builder's logic over the rule JSON itself (docs/segment-rules.md): the editor
// edits the JSON tree in place, so builder -> JSON -> builder is exact for every rule the
// builder can show. Paths are arrays of keys, e.g. ['and', 1, 'not'].

export const KINDS = ['attribute', 'tag', 'event', 'reachable', 'consent', 'identifier', 'in_segment'];
export const ATTRIBUTE_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'starts_with', 'exists', 'not_exists', 'within_last', 'before_last'];
export const EVENT_OPS = ['gte', 'gt', 'eq', 'neq', 'lt', 'lte'];
export const AGGREGATES = ['count', 'sum', 'min', 'max'];
export const CHANNELS = ['line', 'email', 'sms'];
export const IDENTIFIER_TYPES = ['line', 'email', 'phone', 'member_id', 'anonymous_id', 'idfa', 'wechat_openid', 'wechat_unionid'];
export const UNITS = ['days', 'hours', 'minutes'];

export function emptyRule() {
  return { and: [] };
}

export function newCondition(kind) {
  switch (kind) {
    case 'attribute':
      return { attribute: { field: 'traits.', op: 'eq', value: '' } };
    case 'tag':
      return { tag: { name: '' } };
    case 'event':
      return { event: { name: 'Order Completed' } };
    case 'reachable':
      return { reachable: { channel: 'line' } };
    case 'consent':
      return { consent: { channel: 'email', purpose: 'marketing' } };
    case 'identifier':
      return { identifier: { type: 'line' } };
    case 'in_segment':
      return { in_segment: { segment_id: '' } };
    case 'group':
      return { or: [] };
    default:
      throw new Error(`unknown condition kind ${kind}`);
  }
}

export function nodeKind(node) {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return null;
  const keys = Object.keys(node);
  return keys.length === 1 ? keys[0] : null;
}

export function isGroup(node) {
  const kind = nodeKind(node);
  return (kind === 'and' || kind === 'or') && Array.isArray(node[kind]);
}

export function getAt(node, path) {
  return path.reduce((current, key) => (current == null ? undefined : current[key]), node);
}

// A copy of `node` with the value at `path` replaced by update(old); untouched branches shared.
export function updateAt(node, path, update) {
  if (path.length === 0) return update(node);
  const [key, ...rest] = path;
  const copy = Array.isArray(node) ? [...node] : { ...node };
  copy[key] = updateAt(node[key], rest, update);
  return copy;
}

export function setAt(node, path, value) {
  return updateAt(node, path, () => value);
}

// Removes the child at `path` (its last key an index into a group's list).
export function removeAt(node, path) {
  const index = path[path.length - 1];
  return updateAt(node, path.slice(0, -1), (list) => list.filter((_, i) => i !== index));
}

export function appendAt(node, groupPath, child) {
  const kind = nodeKind(getAt(node, groupPath));
  return updateAt(node, [...groupPath, kind], (list) => [...list, child]);
}

// Switches a group between and/or, keeping its children.
export function setGroupKind(node, groupPath, kind) {
  return updateAt(node, groupPath, (group) => ({ [kind]: group[nodeKind(group)] }));
}

// Wraps the node at `path` in {"not": ...}, or unwraps it.
export function toggleNot(node, path) {
  return updateAt(node, path, (child) => (nodeKind(child) === 'not' ? child.not : { not: child }));
}

// What a typed value means for an operator: numbers and booleans as such, a comma list for `in`.
export function parseValue(text, op) {
  if (op === 'in') {
    return String(text)
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => parseScalar(part));
  }
  return parseScalar(String(text));
}

export function parseScalar(text) {
  const trimmed = text.trim();
  if (trimmed === 'true') return true;
  if (trimmed === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  return text;
}

export function formatValue(value) {
  if (Array.isArray(value)) return value.map((v) => String(v)).join(', ');
  if (value === undefined || value === null) return '';
  return String(value);
}

// The attribute node for a new operator: no value for exists, a duration for within_last, ...
export function withOperator(attribute, op) {
  const { value, ...rest } = attribute;
  if (op === 'exists' || op === 'not_exists') return { ...rest, op };
  if (op === 'within_last' || op === 'before_last') return { ...rest, op, value: value && typeof value === 'object' && !Array.isArray(value) ? value : { days: 30 } };
  if (op === 'in') return { ...rest, op, value: Array.isArray(value) ? value : value === undefined || value === '' || typeof value === 'object' ? [] : [value] };
  return { ...rest, op, value: Array.isArray(value) ? value[0] ?? '' : typeof value === 'object' ? '' : value ?? '' };
}

// Sets an event condition's aggregate with the fields it needs (count takes no property).
export function withAggregate(event, aggregate) {
  const { aggregate: _, property, op, value, ...rest } = event;
  if (aggregate === 'count') {
    if (op === undefined && value === undefined) return rest;
    return { ...rest, aggregate, op: op || 'gte', value: value ?? 1 };
  }
  return { ...rest, aggregate, property: property || 'revenue', op: op || 'gte', value: value ?? 0 };
}

// Problems the builder can see before asking the API (empty names, empty groups); [] when none.
export function problems(node, path = '') {
  const kind = nodeKind(node);
  if (kind === 'and' || kind === 'or') {
    if (!node[kind].length) return [`${path}/${kind}`];
    return node[kind].flatMap((child, i) => problems(child, `${path}/${kind}/${i}`));
  }
  if (kind === 'not') return problems(node.not, `${path}/not`);
  const body = node?.[kind] || {};
  if (kind === 'attribute') {
    const field = body.field || '';
    if (!/^(traits|computed)\.[^.]/.test(field) && field !== 'profile_id' && field !== 'line_status') return [`${path}/attribute/field`];
    if (body.op === 'in' && !(Array.isArray(body.value) && body.value.length)) return [`${path}/attribute/value`];
    return [];
  }
  if (kind === 'tag') return body.name || body.group ? [] : [`${path}/tag`];
  if (kind === 'event') return body.name ? [] : [`${path}/event/name`];
  if (kind === 'in_segment') return body.segment_id ? [] : [`${path}/in_segment/segment_id`];
  if (KINDS.includes(kind)) return [];
  return [path || '/'];
}
