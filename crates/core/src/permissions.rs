//! Roles and the permission rules of api-v1 §4, in one place.
//!
//! Every endpoint asks [`check`] with a [`Perm`] that carries the *facts* the rule needs
//! (owners and assignees of the object, loaded by the resource's module). The rules are
//! pure functions of the actor and those facts, so tasks, jobs and projects plug in by
//! loading their facts; nothing here changes when they arrive.
//!
//! | permission     | granted to                                                   |
//! |----------------|--------------------------------------------------------------|
//! | project.create | admin, user                                                  |
//! | project.access | admin, observer, project owner, project annotator            |
//! | project.change | admin, project owner, project assignee                       |
//! | project.delete | admin, project owner                                         |
//! | task.create    | admin, user                                                  |
//! | task.access    | admin, observer, owner(task), task_annotator(task)           |
//! | task.change    | admin, owner(task), assignee(task)                           |
//! | task.delete    | admin, owner(task)                                           |
//! | job.access     | admin, observer, owner(task of job), job_annotator(job)      |
//! | job.change     | admin, owner(task of job), job_annotator(job)                |
//! | user.change    | the user themself, admin                                     |
//! | user.delete    | the user themself, admin                                     |
//!
//! "admin", "user", "observer" mean membership in that group; an active superuser passes
//! every object-level rule (Django's shortcut).
//!
//! **Observers never change anything** (api-v1 §4.3, §16.2): a user in the `observer`
//! group and in neither `admin` nor `user` is refused every change and delete rule
//! of projects, tasks and jobs — annotations, imports, jobs, tasks, projects — also on tasks without an
//! assignee, where CVAT 1.1's code would let them edit. CVAT's documentation says
//! observers only view; we hold to the documentation. List visibility (§4.4.1) is decided by
//! [`task_list_scope`].

use crate::error::{Error, Result};

/// The four fixed groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    User,
    Annotator,
    Observer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::User, Role::Annotator, Role::Observer];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Annotator => "annotator",
            Role::Observer => "observer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub id: i64,
    pub username: String,
    pub roles: Vec<Role>,
    pub is_staff: bool,
    pub is_superuser: bool,
}

impl Actor {
    pub fn from_user(u: &ferrocat_store::UserRow) -> Actor {
        Actor {
            id: u.id,
            username: u.username.clone(),
            roles: u.groups.iter().filter_map(|g| Role::parse(g)).collect(),
            is_staff: u.is_staff,
            is_superuser: u.is_superuser,
        }
    }

    pub fn has(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }

    fn is(&self, id: Option<i64>) -> bool {
        id == Some(self.id)
    }
}

/// Server-wide switches that change the rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// When on, a task without assignee no longer opens its jobs to everybody.
    pub reduce_task_visibility: bool,
}

/// Facts about a project.
#[derive(Debug, Clone, Default)]
pub struct ProjectFacts {
    pub owner: Option<i64>,
    pub assignee: Option<i64>,
    /// Whether the actor is a task annotator of at least one task of the project.
    pub actor_annotates_a_task: bool,
}

/// Facts about a task (and its project, and its jobs' assignees).
#[derive(Debug, Clone, Default)]
pub struct TaskFacts {
    pub owner: Option<i64>,
    pub assignee: Option<i64>,
    pub project_owner: Option<i64>,
    pub project_assignee: Option<i64>,
    /// The assignee of each job of the task (empty before data is attached).
    pub job_assignees: Vec<Option<i64>>,
}

/// Facts about a job: its task's facts and its own assignee.
#[derive(Debug, Clone, Default)]
pub struct JobFacts {
    pub task: TaskFacts,
    pub assignee: Option<i64>,
}

/// A permission to check, with the facts it needs.
#[derive(Debug, Clone, Copy)]
pub enum Perm<'a> {
    ProjectCreate,
    ProjectAccess(&'a ProjectFacts),
    ProjectChange(&'a ProjectFacts),
    ProjectDelete(&'a ProjectFacts),
    TaskCreate,
    TaskAccess(&'a TaskFacts),
    TaskChange(&'a TaskFacts),
    TaskDelete(&'a TaskFacts),
    JobAccess(&'a JobFacts),
    JobChange(&'a JobFacts),
    /// Edit another user's record (id of the target).
    UserChange(i64),
    UserDelete(i64),
}

fn task_owner(a: &Actor, t: &TaskFacts) -> bool {
    a.is(t.owner) || a.is(t.project_owner)
}

fn task_assignee(a: &Actor, t: &TaskFacts) -> bool {
    a.is(t.assignee) || a.is(t.project_assignee)
}

fn job_annotator(a: &Actor, p: Policy, t: &TaskFacts, job_assignee: Option<i64>) -> bool {
    (t.assignee.is_none() && !p.reduce_task_visibility) || task_assignee(a, t) || a.is(job_assignee)
}

fn task_annotator(a: &Actor, p: Policy, t: &TaskFacts) -> bool {
    t.job_assignees.iter().any(|j| job_annotator(a, p, t, *j))
}

/// Whether `actor` is a task annotator of the task (§4.2): what makes a project
/// visible to the annotators of its tasks.
pub fn annotates_task(actor: &Actor, policy: Policy, t: &TaskFacts) -> bool {
    task_annotator(actor, policy, t)
}

/// An observer who is neither admin nor user: reads everything, changes nothing.
fn read_only(a: &Actor) -> bool {
    a.has(Role::Observer) && !a.has(Role::Admin) && !a.has(Role::User)
}

/// Whether `actor` holds `perm` under `policy`.
pub fn allows(actor: &Actor, policy: Policy, perm: Perm<'_>) -> bool {
    let admin = actor.has(Role::Admin);
    let observer = actor.has(Role::Observer);
    let creator = admin || actor.has(Role::User);
    // Django's superuser shortcut applies to object-level rules; role-only rules
    // (create) are checked against groups, but a superuser passes those too in CVAT
    // because `has_perm` short-circuits for superusers.
    if actor.is_superuser {
        return true;
    }
    let changes = matches!(
        perm,
        Perm::ProjectChange(_)
            | Perm::ProjectDelete(_)
            | Perm::TaskChange(_)
            | Perm::TaskDelete(_)
            | Perm::JobChange(_)
    );
    if changes && read_only(actor) {
        return false;
    }
    match perm {
        Perm::ProjectCreate | Perm::TaskCreate => creator,
        Perm::ProjectAccess(p) => {
            admin || observer || actor.is(p.owner) || p.actor_annotates_a_task
        }
        Perm::ProjectChange(p) => admin || actor.is(p.owner) || actor.is(p.assignee),
        Perm::ProjectDelete(p) => admin || actor.is(p.owner),
        Perm::TaskAccess(t) => {
            admin || observer || task_owner(actor, t) || task_annotator(actor, policy, t)
        }
        Perm::TaskChange(t) => admin || task_owner(actor, t) || task_assignee(actor, t),
        Perm::TaskDelete(t) => admin || task_owner(actor, t),
        Perm::JobAccess(j) => {
            admin
                || observer
                || task_owner(actor, &j.task)
                || job_annotator(actor, policy, &j.task, j.assignee)
        }
        Perm::JobChange(j) => {
            admin || task_owner(actor, &j.task) || job_annotator(actor, policy, &j.task, j.assignee)
        }
        Perm::UserChange(id) | Perm::UserDelete(id) => admin || actor.id == id,
    }
}

/// `Ok(())` or 403 with CVAT's message.
pub fn check(actor: &Actor, policy: Policy, perm: Perm<'_>) -> Result<()> {
    if allows(actor, policy, perm) {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

/// Which tasks `GET /tasks` shows to an actor (§4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskScope {
    /// Admins and observers see every task.
    All,
    /// Tasks the user owns, is assigned to, has a job in; and, when
    /// `include_unassigned`, every task without an assignee.
    Visible {
        user_id: i64,
        include_unassigned: bool,
    },
}

pub fn task_list_scope(actor: &Actor, policy: Policy) -> TaskScope {
    if actor.has(Role::Admin) || actor.has(Role::Observer) {
        TaskScope::All
    } else {
        TaskScope::Visible {
            user_id: actor.id,
            include_unassigned: !policy.reduce_task_visibility,
        }
    }
}

/// Whether the caller sees other users in the full form (§4.5.3).
pub fn sees_full_users(actor: &Actor) -> bool {
    actor.is_staff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(id: i64, roles: &[Role]) -> Actor {
        Actor {
            id,
            username: format!("u{id}"),
            roles: roles.to_vec(),
            is_staff: false,
            is_superuser: false,
        }
    }
    const P: Policy = Policy {
        reduce_task_visibility: false,
    };

    #[test]
    fn create_needs_admin_or_user_group() {
        assert!(allows(&actor(1, &[Role::User]), P, Perm::TaskCreate));
        assert!(allows(&actor(1, &[Role::Admin]), P, Perm::ProjectCreate));
        assert!(!allows(&actor(1, &[Role::Annotator]), P, Perm::TaskCreate));
        assert!(!allows(&actor(1, &[Role::Observer]), P, Perm::TaskCreate));
        assert!(!allows(&actor(1, &[]), P, Perm::TaskCreate));
        let mut su = actor(1, &[]);
        su.is_superuser = true;
        assert!(allows(&su, P, Perm::TaskDelete(&TaskFacts::default())));
    }

    #[test]
    fn task_rules() {
        let t = TaskFacts {
            owner: Some(1),
            assignee: Some(2),
            job_assignees: vec![Some(3), None],
            ..Default::default()
        };
        let owner = actor(1, &[]);
        let assignee = actor(2, &[]);
        let job_user = actor(3, &[]);
        let stranger = actor(4, &[Role::User]);
        let observer = actor(5, &[Role::Observer]);
        assert!(allows(&owner, P, Perm::TaskDelete(&t)));
        assert!(allows(&assignee, P, Perm::TaskChange(&t)));
        assert!(!allows(&assignee, P, Perm::TaskDelete(&t)));
        assert!(allows(&job_user, P, Perm::TaskAccess(&t)));
        assert!(!allows(&job_user, P, Perm::TaskChange(&t)));
        assert!(!allows(&stranger, P, Perm::TaskAccess(&t)));
        assert!(allows(&observer, P, Perm::TaskAccess(&t)));
        assert!(!allows(&observer, P, Perm::TaskChange(&t)));
        // project ownership grants task ownership
        let pt = TaskFacts {
            project_owner: Some(4),
            ..t.clone()
        };
        assert!(allows(&stranger, P, Perm::TaskDelete(&pt)));
    }

    #[test]
    fn unassigned_task_is_open_to_everybody_unless_reduced() {
        let t = TaskFacts {
            owner: Some(1),
            assignee: None,
            job_assignees: vec![None],
            ..Default::default()
        };
        let j = JobFacts {
            task: t.clone(),
            assignee: None,
        };
        let anyone = actor(9, &[]);
        assert!(allows(&anyone, P, Perm::TaskAccess(&t)));
        assert!(allows(&anyone, P, Perm::JobChange(&j)));
        // but an observer only looks, even there
        let observer = actor(8, &[Role::Observer]);
        assert!(allows(&observer, P, Perm::JobAccess(&j)));
        assert!(!allows(&observer, P, Perm::JobChange(&j)));
        // their own account is not annotation data
        assert!(allows(&observer, P, Perm::UserChange(8)));
        let reduced = Policy {
            reduce_task_visibility: true,
        };
        assert!(!allows(&anyone, reduced, Perm::JobChange(&j)));
        // a task without jobs has no task annotators
        let nojobs = TaskFacts {
            job_assignees: vec![],
            ..t
        };
        assert!(!allows(&anyone, P, Perm::TaskAccess(&nojobs)));
    }

    #[test]
    fn job_rules() {
        let t = TaskFacts {
            owner: Some(1),
            assignee: Some(2),
            job_assignees: vec![Some(3)],
            ..Default::default()
        };
        let j = JobFacts {
            task: t,
            assignee: Some(3),
        };
        assert!(allows(&actor(3, &[]), P, Perm::JobChange(&j)));
        assert!(allows(&actor(2, &[]), P, Perm::JobChange(&j)));
        assert!(allows(&actor(1, &[]), P, Perm::JobChange(&j)));
        assert!(!allows(&actor(4, &[Role::User]), P, Perm::JobAccess(&j)));
        assert!(allows(&actor(4, &[Role::Observer]), P, Perm::JobAccess(&j)));
        assert!(!allows(
            &actor(4, &[Role::Observer]),
            P,
            Perm::JobChange(&j)
        ));
        assert!(allows(&actor(4, &[Role::Admin]), P, Perm::JobChange(&j)));
    }

    #[test]
    fn project_and_user_rules() {
        let p = ProjectFacts {
            owner: Some(1),
            assignee: Some(2),
            actor_annotates_a_task: false,
        };
        assert!(allows(&actor(2, &[]), P, Perm::ProjectChange(&p)));
        assert!(!allows(&actor(2, &[]), P, Perm::ProjectDelete(&p)));
        assert!(!allows(&actor(3, &[]), P, Perm::ProjectAccess(&p)));
        let annot = ProjectFacts {
            actor_annotates_a_task: true,
            ..p
        };
        assert!(allows(&actor(3, &[]), P, Perm::ProjectAccess(&annot)));
        assert!(allows(&actor(3, &[]), P, Perm::UserChange(3)));
        assert!(!allows(&actor(3, &[Role::User]), P, Perm::UserChange(4)));
        assert!(allows(&actor(3, &[Role::Admin]), P, Perm::UserDelete(4)));
    }

    #[test]
    fn list_scope() {
        assert_eq!(
            task_list_scope(&actor(1, &[Role::Observer]), P),
            TaskScope::All
        );
        assert_eq!(
            task_list_scope(&actor(1, &[Role::User]), P),
            TaskScope::Visible {
                user_id: 1,
                include_unassigned: true
            }
        );
    }
}
