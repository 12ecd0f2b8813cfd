// The console's words in English and Chinese. The language follows navigator.language until
// the switch is used, then the choice is remembered (localStorage).

export const WORDS = {
  en: {
    console: 'console', overview: 'Overview', users: 'Users', keys: 'Keys', ledger: 'Ledger',
    routing: 'Routing playground', theme: 'Theme', sign_in: 'Sign in', sign_out: 'Sign out',
    admin_token: 'Admin token', wrong_token: 'Wrong admin token.', expired: 'Your session has ended; sign in again.',
    spend_by_day: 'Spend by day (USD)', by_model: 'By model', export_csv: 'Export CSV',
    requests: 'Requests', tokens: 'Tokens', cost: 'Cost (USD)', cached: 'Cached tokens',
    day: 'Day', model: 'Model', user_id: 'User id', look_up: 'Look up', tier_override: 'Tier override',
    save: 'Save', saved: 'Saved.', upstream_keys: 'Upstream keys', virtual_keys: 'Virtual keys', name: 'Name',
    create: 'Create', revoke: 'Revoke', revoked: 'revoked', active: 'active', created: 'Created',
    shown_once: 'Copy this key now; it is never shown again:', state: 'State', upstream: 'Upstream',
    key: 'Key', filter: 'Filter', time: 'Time', user: 'User', route: 'Route', ending: 'Ending',
    message: 'Message', explain: 'Explain', details: 'Details', tier: 'Tier',
    export_xlsx: 'Export XLSX', quality: 'Quality', config: 'Config', search_users: 'Search by id',
    search: 'Search', open: 'Open', last_active: 'Last active', today_tokens: 'Tokens today',
    today_cost: 'Cost today (USD)', month_cost: 'Cost this month (USD)', blocked: 'Blocked',
    block_reason: 'Reason for blocking', block: 'Block', unblock: 'Unblock', raw: 'Raw data',
    user_blocked: 'Blocked.', user_unblocked: 'Unblocked.', blocked_since: 'Blocked since {t}: {r}',
    used_today: 'Used today', left_today: 'Left today', used_month: 'Used this month',
    left_month: 'Left this month', unlimited: 'unlimited', no_usage: 'No requests yet.',
    from: 'From', to: 'To', previous: 'Previous', next: 'Next', any: 'any', rows_shown: 'Rows {a}–{b}',
    no_rows: 'No rows.', apply: 'Apply', by_route_model: 'By route and model',
    rated_down: 'Answers rated down', up: 'Rated up', down: 'Rated down', down_share: 'Down share',
    question: 'Question', answer: 'Answer', not_kept: 'Conversation not kept (the user did not keep it server-side, or deleted it).',
    none_rated_down: 'No answers rated down in this range.', secrets: 'Secrets', secret: 'Secret',
    value: 'Value', setting: 'Setting', valid: 'The config is valid: the worker loaded it.',
    no_warnings: 'No warnings.', warnings: 'Warnings', set: 'set', unset: 'unset',
    keys_count: '{n} keys', general: 'General', users_none: 'No users found.',
  },
  zh: {
    console: '管理台', overview: '概览', users: '用户', keys: '密钥', ledger: '账本',
    routing: '路由试验', theme: '主题', sign_in: '登录', sign_out: '退出',
    admin_token: '管理员令牌', wrong_token: '管理员令牌不正确。', expired: '会话已过期，请重新登录。',
    spend_by_day: '每日花费（美元）', by_model: '按模型', export_csv: '导出 CSV',
    requests: '请求数', tokens: 'Token 数', cost: '花费（美元）', cached: '缓存 Token',
    day: '日期', model: '模型', user_id: '用户 ID', look_up: '查询', tier_override: '等级覆盖',
    save: '保存', saved: '已保存。', upstream_keys: '上游密钥', virtual_keys: '虚拟密钥', name: '名称',
    create: '创建', revoke: '吊销', revoked: '已吊销', active: '有效', created: '创建时间',
    shown_once: '请立即复制此密钥，它不会再次显示：', state: '状态', upstream: '上游',
    key: '密钥', filter: '筛选', time: '时间', user: '用户', route: '路由', ending: '结果',
    message: '消息', explain: '解释', details: '详情', tier: '等级',
    export_xlsx: '导出 XLSX', quality: '质量', config: '配置', search_users: '按 ID 搜索',
    search: '搜索', open: '打开', last_active: '最近活跃', today_tokens: '今日 Token',
    today_cost: '今日花费（美元）', month_cost: '本月花费（美元）', blocked: '已停用',
    block_reason: '停用原因', block: '停用', unblock: '恢复', raw: '原始数据',
    user_blocked: '已停用。', user_unblocked: '已恢复。', blocked_since: '自 {t} 起停用：{r}',
    used_today: '今日已用', left_today: '今日剩余', used_month: '本月已用',
    left_month: '本月剩余', unlimited: '不限', no_usage: '尚无请求。',
    from: '开始日期', to: '结束日期', previous: '上一页', next: '下一页', any: '全部', rows_shown: '第 {a}–{b} 行',
    no_rows: '没有记录。', apply: '应用', by_route_model: '按路由和模型',
    rated_down: '被点踩的回答', up: '点赞', down: '点踩', down_share: '点踩比例',
    question: '问题', answer: '回答', not_kept: '未保留对话（用户未在服务器保存该对话，或已删除）。',
    none_rated_down: '该时间段内没有被点踩的回答。', secrets: '密钥与令牌', secret: '名称',
    value: '值', setting: '设置项', valid: '配置有效：Worker 已成功加载。',
    no_warnings: '没有警告。', warnings: '警告', set: '已设置', unset: '未设置',
    keys_count: '{n} 个密钥', general: '常规', users_none: '没有找到用户。',
  },
};

export function initialLanguage() {
  const chosen = localStorage.getItem('oachat-console-lang');
  if (chosen === 'en' || chosen === 'zh') return chosen;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
