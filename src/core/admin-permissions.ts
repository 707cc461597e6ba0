/** What each admin role may do. A token of one role cannot do another's work. */
export type AdminRoleName = 'owner' | 'operator' | 'auditor' | 'approver';

export const PERMISSIONS = [
  'accounts:read',
  'accounts:write',
  'keys:read',
  'keys:write',
  'audit:read',
  'tokens:write',
  'master-key:rotate',
  'approvals:read',
  'approvals:decide',
  'bans:read',
  'bans:write',
  'policies:read',
  'policies:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ: readonly Permission[] = [
  'accounts:read',
  'keys:read',
  'audit:read',
  'bans:read',
  'policies:read',
];

export const ROLE_PERMISSIONS: Readonly<Record<AdminRoleName, ReadonlySet<Permission>>> = {
  // The owner administers the gateway itself; deciding approvals is kept to approvers.
  owner: new Set<Permission>([
    ...READ,
    'accounts:write',
    'keys:write',
    'tokens:write',
    'master-key:rotate',
    'approvals:read',
    'bans:write',
    'policies:write',
  ]),
  operator: new Set<Permission>([
    ...READ,
    'accounts:write',
    'keys:write',
    'approvals:read',
    'bans:write',
    'policies:write',
  ]),
  auditor: new Set<Permission>([...READ, 'approvals:read']),
  approver: new Set<Permission>([
    'approvals:read',
    'approvals:decide',
    'keys:read',
    'accounts:read',
    'policies:read',
  ]),
};

export function roleAllows(role: AdminRoleName, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}
