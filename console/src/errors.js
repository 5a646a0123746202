// API errors in words a marketer understands. The API answers {"error": "<stable code>",
// "message": "..."}; the console shows the sentence for the code (never raw JSON), and for a
// code it does not know, a sentence for the HTTP status. The API's own message stays available
// as a detail for whoever reports the problem.

const MESSAGES = {
  // sign-in and connection
  invalid_admin_token: ['Your sign-in has expired or the token is wrong. Please sign in again.', '登入已失效或權杖不正確，請重新登入。'],
  invalid_service_token: ['This service token is wrong or was revoked. Please sign in again.', '服務權杖不正確或已撤銷，請重新登入。'],
  invalid_user_token: ['Your sign-in has expired. Please sign in again.', '登入已失效，請重新登入。'],
  no_role: ['Your account has no role yet. Ask an administrator to give you one.', '您的帳號尚未指派角色，請洽管理員。'],
  forbidden: ['Your role ({role}) cannot do this; it needs the {required_role} role.', '您的角色（{role}）無法執行此操作，需要「{required_role}」角色。'],
  network_error: ['The console cannot reach the server. Check your connection and try again.', '無法連線到伺服器，請檢查網路後再試一次。'],
  route_not_found: ['This feature is not available on this server yet.', '這個伺服器尚未提供此功能。'],
  internal_error: ['Something went wrong on the server. Please try again in a moment.', '伺服器發生錯誤，請稍後再試。'],
  store_unavailable: ['The data store is busy right now. Please try again in a moment.', '資料庫暫時忙碌中，請稍後再試。'],
  query_failed: ['The report could not be computed. Please try again in a moment.', '報表無法計算完成，請稍後再試。'],
  result_too_large: ['The answer is too large to show. Narrow the date range or the conditions.', '結果太大無法顯示，請縮小日期範圍或條件。'],
  job_not_found: ['That result has expired. Please run it again.', '這份結果已過期，請重新執行。'],
  job_timeout: ['This is taking longer than usual. Please try again later.', '處理時間比平常久，請稍後再試。'],
  archive_not_configured: ['Reports are not set up on this installation.', '此環境尚未設定報表資料。'],
  invalid_request: ['Some of the information entered is not valid.', '輸入的資料有誤。'],
  invalid_json: ['The request could not be read.', '無法讀取這個請求。'],
  invalid_body: ['Some of the information entered is not valid.', '輸入的資料有誤。'],
  invalid_parameter: ['One of the filters is not valid: {field}.', '篩選條件有誤：{field}。'],
  invalid_time_zone: ['The time zone is not recognised.', '無法辨識這個時區。'],
  invalid_cursor: ['The list moved on; please start again from the first page.', '清單已更新，請從第一頁重新開始。'],
  // people
  profile_not_found: ['This person could not be found. They may have been merged into another person.', '找不到這位顧客，可能已合併到另一位顧客。'],
  invalid_identifier: ['Search by identifier as type:value, for example phone:0912345678.', '識別碼請以「類型:值」輸入，例如 phone:0912345678。'],
  unknown_identifier_type: ['That kind of identifier is not known.', '不認得這種識別碼類型。'],
  invalid_lookup_type: ['That kind of identifier is not known.', '不認得這種識別碼類型。'],
  missing_lookup_value: ['Enter a value to look up.', '請輸入要查詢的值。'],
  empty_search: ['Enter a phone, email, name, tag or trait to search.', '請輸入電話、Email、姓名、標籤或屬性來搜尋。'],
  job_not_started: ['The export could not be started. Please try again in a moment.', '無法開始匯出，請稍後再試。'],
  export_lost: ['The export stopped before it finished. Please export again.', '匯出未完成即中斷，請重新匯出。'],
  export_failed: ['The export failed. Please export again.', '匯出失敗，請重新匯出。'],
  unknown_search_parameter: ['That search filter is not known.', '不認得這個搜尋條件。'],
  invalid_trait_name: ['That trait name is not valid.', '屬性名稱不正確。'],
  invalid_tag: ['That tag name is not valid.', '標籤名稱不正確。'],
  invalid_tag_list: ['The tags are not valid.', '標籤清單不正確。'],
  too_many_tags: ['Too many tags at once.', '一次太多標籤。'],
  no_tag_change: ['Nothing to change in the tags.', '標籤沒有需要變更的地方。'],
  tag_added_and_removed: ['A tag cannot be added and removed at the same time.', '同一個標籤不能同時新增和移除。'],
  invalid_consent_channel: ['That channel cannot hold a consent.', '這個管道不能設定同意狀態。'],
  invalid_consent_purpose: ['That consent purpose is not known.', '不認得這個同意用途。'],
  invalid_consent_value: ['The consent value is not valid.', '同意狀態的值不正確。'],
  invalid_consent_text_version: ['The consent text version must be a short label such as 2026-03.', '條款版本須為簡短標籤，例如 2026-03。'],
  merge_not_found: ['That merge could not be found.', '找不到這次合併紀錄。'],
  merge_not_of_profile: ['That merge does not belong to this person.', '這次合併不屬於這位顧客。'],
  merge_not_finished: ['That merge is still in progress. Try again in a moment.', '合併仍在進行中，請稍後再試。'],
  merge_rejected: ['This merge cannot be undone.', '這次合併無法復原。'],
  merge_chain_too_long: ['This person has been merged too many times to undo automatically.', '這位顧客合併次數過多，無法自動復原。'],
  survivor_busy: ['This person is being updated right now. Try again in a moment.', '這位顧客正在更新中，請稍後再試。'],
  survivor_merged_since: ['This person was merged again since; undo the newer merge first.', '這位顧客之後又被合併，請先復原較新的合併。'],
  conflict: ['Someone else changed this at the same time. Reload and try again.', '有人同時修改了這筆資料，請重新整理後再試。'],
  // segments
  invalid_segment_rule: ['The segment conditions are not complete or not valid: {detail}', '分眾條件不完整或不正確：{detail}'],
  unknown_rule_field: ['One of the conditions uses a field that does not exist.', '條件中使用了不存在的欄位。'],
  invalid_segment_name: ['The segment needs a name (letters, numbers and spaces).', '請為分眾命名（文字、數字與空白）。'],
  invalid_segment_id: ['That segment id is not valid.', '分眾代碼不正確。'],
  invalid_sample: ['The sample size must be between 1 and 100.', '樣本數需介於 1 到 100。'],
  segment_exists: ['A segment with this id already exists.', '已有相同代碼的分眾。'],
  segment_not_found: ['This segment could not be found.', '找不到這個分眾。'],
  segment_archived: ['This segment was archived and cannot be changed.', '這個分眾已封存，無法修改。'],
  segment_version_conflict: ['Someone else saved this segment meanwhile. Reload and try again.', '有人同時儲存了這個分眾，請重新整理後再試。'],
  audience_too_small: ['LINE needs at least 50 reachable friends in an audience.', 'LINE 受眾至少需要 50 位可觸及的好友。'],
  audience_too_large: ['This audience is larger than LINE accepts.', '受眾人數超過 LINE 的上限。'],
  recompute_not_configured: ['Segment refresh is not set up on this installation.', '此環境尚未設定分眾重新計算。'],
  recompute_unavailable: ['Segment refresh is busy. Try again in a moment.', '分眾重新計算忙碌中，請稍後再試。'],
  line_not_configured: ['LINE is not connected on this installation.', '此環境尚未連接 LINE。'],
  line_channel_not_found: ['That LINE channel is not connected.', '尚未連接這個 LINE 官方帳號。'],
  line_unavailable: ['LINE is not answering right now. Try again in a moment.', 'LINE 暫時沒有回應，請稍後再試。'],
  line_rejected: ['LINE refused the request.', 'LINE 拒絕了這個請求。'],
  line_auth_failed: ['LINE refused the channel\'s credentials. Check the channel settings.', 'LINE 不接受官方帳號的憑證，請檢查設定。'],
  line_bad_response: ['LINE answered unexpectedly. Try again in a moment.', 'LINE 回應異常，請稍後再試。'],
  // imports, links, settings (shared with the other pages)
  import_not_found: ['That import could not be found.', '找不到這次匯入。'],
  import_already_started: ['This import has already started.', '這次匯入已經開始。'],
  imports_not_configured: ['Member import is not set up on this installation.', '此環境尚未設定會員匯入。'],
  not_csv: ['The file is not a CSV file.', '檔案不是 CSV 格式。'],
  empty_file: ['The file is empty.', '檔案是空的。'],
  no_data_rows: ['The file has a header but no rows.', '檔案只有標題列，沒有資料。'],
  file_too_large: ['The file is too large.', '檔案太大。'],
  inline_upload_too_large: ['The file is too large to upload here.', '檔案太大，無法在此上傳。'],
  too_many_rows: ['The file has too many rows.', '檔案列數過多。'],
  missing_member_id_column: ['The file needs a member id column.', '檔案需要會員編號欄位。'],
  duplicate_column: ['The file has the same column twice.', '檔案中有重複的欄位。'],
  invalid_encoding: ['The file\'s text encoding is not supported. Save it as UTF-8.', '檔案編碼不支援，請另存為 UTF-8。'],
  unsupported_encoding: ['The file\'s text encoding is not supported. Save it as UTF-8.', '檔案編碼不支援，請另存為 UTF-8。'],
  link_not_found: ['That link could not be found.', '找不到這個連結。'],
  link_code_taken: ['That short code is already used. Choose another.', '這個短網址代碼已被使用，請換一個。'],
  invalid_link_url: ['The destination must be a full https:// address.', '目的網址需為完整的 https:// 網址。'],
  invalid_link_code: ['The short code may use letters, numbers and dashes only.', '短網址代碼只能使用英數字與連字號。'],
  invalid_rules: ['The rules are not valid.', '規則不正確。'],
  invalid_tag_rule: ['One of the tag rules is not valid.', '其中一條標籤規則不正確。'],
  invalid_tag_rules: ['The tag rules are not valid.', '標籤規則不正確。'],
  invalid_regex: ['The pattern is not valid.', '比對樣式不正確。'],
  invalid_keyword: ['One of the keywords is not valid.', '其中一個關鍵字不正確。'],
  too_many_rules: ['Too many rules.', '規則數量過多。'],
  rules_version_conflict: ['Someone else saved these rules meanwhile. Reload and try again.', '有人同時儲存了規則，請重新整理後再試。'],
  invalid_link_src: ['The source may use lower-case letters, numbers, dots and dashes only.', '來源只能使用小寫英數字、點與連字號。'],
  invalid_limit: ['The page size is not valid.', '每頁筆數不正確。'],
  invalid_qr_format: ['That QR code format is not supported.', '不支援這種 QR 碼格式。'],
  upload_failed: ['The file could not be uploaded. Try again.', '檔案上傳失敗，請再試一次。'],
  invalid_blocked_values: ['The blocked values must be a list of values.', '封鎖值需為一串值。'],
  invalid_max_per_type: ['Each limit must be an identifier type and a whole number.', '每個上限需為識別碼類型與整數。'],
  invalid_priority: ['The priority must list identifier types.', '優先順序需列出識別碼類型。'],
  invalid_match_mode: ['A keyword matches by contains, equals or regex.', '關鍵字比對方式需為包含、等於或正規表示式。'],
  invalid_postback_match: ['One of the postback conditions is not valid.', '其中一個 Postback 條件不正確。'],
  invalid_auto_replies: ['The auto-replies are not valid.', '自動回覆設定不正確。'],
  template_archived: ['That message template is archived.', '這個訊息範本已封存。'],
  template_not_for_line: ['That message template cannot be sent on LINE.', '這個訊息範本無法在 LINE 發送。'],
  // campaigns and journeys
  campaign_not_found: ['This campaign could not be found.', '找不到這個活動。'],
  campaign_already_sent: ['This campaign has already been sent.', '這個活動已經發送。'],
  campaign_changed: ['The campaign changed since the check. Check it again before sending.', '活動在檢查後有變更，請重新檢查後再發送。'],
  campaigns_not_configured: ['Campaigns are not set up on this installation.', '此環境尚未設定活動發送。'],
  over_budget: ['Sending this would go over the monthly message budget.', '發送後將超過每月訊息預算。'],
  preflight_running: ['The pre-send check is still running.', '發送前檢查仍在進行中。'],
  schedule_in_past: ['The scheduled time is in the past.', '排程時間已經過去。'],
  journey_not_found: ['This journey could not be found.', '找不到這個旅程。'],
  journey_changed: ['Someone else saved this journey meanwhile. Reload and try again.', '有人同時儲存了這個旅程，請重新整理後再試。'],
  journeys_not_configured: ['Journeys are not set up on this installation.', '此環境尚未設定顧客旅程。'],
  template_not_found: ['This message template could not be found.', '找不到這個訊息範本。'],
  // privacy: audit log, retention, erase
  invalid_time: ['A date in the filters is not valid.', '篩選條件中的日期不正確。'],
  invalid_time_range: ['The "from" date must be before the "to" date.', '開始日期必須早於結束日期。'],
  invalid_action: ['That kind of action is not known.', '不認得這種操作類型。'],
  retention_version_conflict: ['Someone else changed the retention settings meanwhile. Reload and try again.', '有人同時修改了保存期限，請重新整理後再試。'],
  retention_out_of_bounds: ['{kind} can be kept from {min_days} to {max_days} days.', '{kind}的保存天數須介於 {min_days} 到 {max_days} 天。'],
  invalid_retention_days: ['Each retention period must be a whole number of days.', '保存期限須為整數天數。'],
  unknown_data_kind: ['That kind of data is not known.', '不認得這種資料類型。'],
  retention_not_configurable: ['This kind of data is not set here: it follows another setting.', '這類資料的保存期限不在此設定，而是依其他設定。'],
  unknown_retention_field: ['The retention settings could not be read.', '無法讀取保存期限設定。'],
  erase_not_found: ['This person has not been erased.', '這位顧客尚未被刪除。'],
  erase_running: ['This person is still being erased. Try again when it has finished.', '這位顧客仍在刪除中，完成後再試。'],
  merge_in_progress: ['This person is being merged or split right now. Try again in a minute.', '這位顧客正在合併或拆分中，請一分鐘後再試。'],
};

const BY_STATUS = {
  400: ['Some of the information entered is not valid.', '輸入的資料有誤。'],
  401: MESSAGES.invalid_admin_token,
  403: MESSAGES.route_not_found,
  404: ['This could not be found.', '找不到資料。'],
  409: MESSAGES.conflict,
  413: ['That is too large to send.', '資料太大，無法送出。'],
  415: ['That kind of file is not supported.', '不支援這種檔案格式。'],
  429: ['Too many requests right now. Please wait a moment.', '請求太頻繁，請稍候再試。'],
  500: MESSAGES.internal_error,
  502: MESSAGES.internal_error,
  503: MESSAGES.store_unavailable,
  504: ['The server took too long to answer. Try a smaller date range.', '伺服器回應逾時，請縮小日期範圍再試。'],
};

export const KNOWN_CODES = Object.keys(MESSAGES);

function pick(pair, lang) {
  return lang === 'en' ? pair[0] : pair[1];
}

// Data kinds of the retention settings, as a marketer calls them.
export const DATA_KINDS = {
  raw_events: ['Raw events', '原始事件'],
  timeline: ['Timeline events', '行為時間軸事件'],
  archive: ['Archive (reports)', '報表封存資料'],
  send_records: ['Message send records', '訊息發送紀錄'],
  exports: ['Exported files', '匯出檔案'],
  audit_log: ['Audit log', '稽核紀錄'],
  import_files: ['Member import files', '會員匯入檔案'],
};

export function kindName(kind, lang) {
  return DATA_KINDS[kind] ? pick(DATA_KINDS[kind], lang) : kind;
}

// The sentence for an ApiError-like {status, code, message, details}, in `lang`.
export function describeError(error, lang) {
  const code = error?.code;
  const pair = (code && MESSAGES[code]) || BY_STATUS[error?.status] || (error?.status >= 500 ? BY_STATUS[500] : BY_STATUS[400]);
  const details = error?.details;
  const field = (details && (details.field || details.path)) || (Array.isArray(details) && details[0]?.field) || '';
  const params = {
    field: field || '—',
    detail: error?.message || '',
    role: details?.role || '',
    required_role: details?.required_role || '',
    min_days: details?.min_days ?? '',
    max_days: details?.max_days ?? '',
    // `days.timeline` -> the kind's name in the page's words, when the page gave them
    kind: kindName(String(field || '').replace(/^days\./, ''), lang),
  };
  return pick(pair, lang).replace(/\{(\w+)\}/g, (_, name) => params[name] ?? '');
}
