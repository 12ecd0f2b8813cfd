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
    today: 'Today', this_month: 'This month', budget_used: 'Deployment budget used', no_cap: 'no cap',
    cache_hits: 'Cache hits', failed: 'Failed', feedback: 'Ratings', rated_up: 'up', rated_down: 'down', ttft: 'Time to first token',
    heaviest: 'Heaviest users and departments', all_time: 'All time', users_today: 'Users today',
    users_month: 'Users this month', depts_today: 'Departments today', depts_month: 'Departments this month',
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
    today: '今日', this_month: '本月', budget_used: '部署预算已用', no_cap: '无上限',
    cache_hits: '缓存命中', failed: '失败', feedback: '评价', rated_up: '赞', rated_down: '踩', ttft: '首字时间',
    heaviest: '用量最多的用户和部门', all_time: '全部', users_today: '今日用户',
    users_month: '本月用户', depts_today: '今日部门', depts_month: '本月部门',
  },
};

export function initialLanguage() {
  const chosen = localStorage.getItem('oachat-console-lang');
  if (chosen === 'en' || chosen === 'zh') return chosen;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
