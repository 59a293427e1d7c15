using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FindSymbols;

namespace Middleware.Analyzers.CodeFixes;

/// <summary>
/// MW0002: <c>ValueTask</c>/<c>ValueTask&lt;T&gt;</c>/<c>void</c> become <c>Task</c>/<c>Task&lt;T&gt;</c>/<c>Task</c> on the
/// interface method and on the implementations in the solution that return the ValueTask (an async body stays valid).
/// MW0004: a CancellationToken parameter is removed from the interface method and its implementations.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ComponentInterfaceCodeFix)), Shared]
public sealed class ComponentInterfaceCodeFix : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(Rules.ReturnTypeId, Rules.ParameterId);

    /// <inheritdoc />
    public override FixAllProvider? GetFixAllProvider() => null; // each fix edits several documents; one at a time

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            diagnostic.Properties.TryGetValue(ComponentInterfaceAnalyzer.FixKey, out var fix);
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            if (fix == ComponentInterfaceAnalyzer.FixReturnTask && node.FirstAncestorOrSelf<MethodDeclarationSyntax>() is { } method)
            {
                var to = ToTask(method.ReturnType).ToString();
                context.RegisterCodeFix(CodeAction.Create($"Return {to}", c => ReturnTask(context.Document, method, c), "MW0002:Task"), diagnostic);
            }
            else if (fix == ComponentInterfaceAnalyzer.FixRemoveParameter && node.FirstAncestorOrSelf<ParameterSyntax>() is { } parameter
                && parameter.Parent?.Parent is MethodDeclarationSyntax owner)
            {
                context.RegisterCodeFix(CodeAction.Create($"Remove parameter '{parameter.Identifier.Text}'", c => RemoveParameter(context.Document, owner, owner.ParameterList.Parameters.IndexOf(parameter), c), "MW0004:RemoveToken"), diagnostic);
            }
        }
    }

    private static async Task<Solution> ReturnTask(Document document, MethodDeclarationSyntax declaration, CancellationToken cancellation)
    {
        var targets = await Declarations(document, declaration, cancellation).ConfigureAwait(false);
        return await Edit(document.Project.Solution, targets, m =>
        {
            // An implementation returning void is left alone: without async its body would not return a Task.
            if (m != declaration && m.ReturnType is PredefinedTypeSyntax) return m;
            return m.WithReturnType(ToTask(m.ReturnType).WithTriviaFrom(m.ReturnType));
        }, cancellation).ConfigureAwait(false);
    }

    private static async Task<Solution> RemoveParameter(Document document, MethodDeclarationSyntax declaration, int index, CancellationToken cancellation)
    {
        var targets = await Declarations(document, declaration, cancellation).ConfigureAwait(false);
        return await Edit(document.Project.Solution, targets,
            m => index < m.ParameterList.Parameters.Count ? m.WithParameterList(m.ParameterList.WithParameters(m.ParameterList.Parameters.RemoveAt(index))) : m,
            cancellation).ConfigureAwait(false);
    }

    /// <summary>The interface method's declaration and those of its implementations in the solution.</summary>
    private static async Task<List<(DocumentId Document, MethodDeclarationSyntax Method)>> Declarations(Document document, MethodDeclarationSyntax declaration, CancellationToken cancellation)
    {
        var targets = new List<(DocumentId, MethodDeclarationSyntax)> { (document.Id, declaration) };
        var model = await document.GetSemanticModelAsync(cancellation).ConfigureAwait(false);
        if (model?.GetDeclaredSymbol(declaration, cancellation) is not IMethodSymbol method) return targets;
        var solution = document.Project.Solution;
        foreach (var implementation in await SymbolFinder.FindImplementationsAsync(method, solution, cancellationToken: cancellation).ConfigureAwait(false))
        {
            foreach (var reference in implementation.DeclaringSyntaxReferences)
            {
                if (solution.GetDocument(reference.SyntaxTree) is { } other && await reference.GetSyntaxAsync(cancellation).ConfigureAwait(false) is MethodDeclarationSyntax m)
                    targets.Add((other.Id, m));
            }
        }

        return targets;
    }

    private static async Task<Solution> Edit(Solution solution, List<(DocumentId Document, MethodDeclarationSyntax Method)> targets, System.Func<MethodDeclarationSyntax, MethodDeclarationSyntax> change, CancellationToken cancellation)
    {
        foreach (var group in targets.GroupBy(t => t.Document))
        {
            var document = solution.GetDocument(group.Key)!;
            var root = await document.GetSyntaxRootAsync(cancellation).ConfigureAwait(false);
            if (root is null) continue;
            var methods = group.Select(t => t.Method).ToList();
            solution = solution.WithDocumentSyntaxRoot(group.Key, root.ReplaceNodes(methods, (original, _) => change(original)));
        }

        return solution;
    }

    /// <summary>ValueTask to Task, ValueTask&lt;T&gt; to Task&lt;T&gt;, void to Task, keeping any qualification.</summary>
    private static TypeSyntax ToTask(TypeSyntax type) => type switch
    {
        QualifiedNameSyntax q => q.WithRight((SimpleNameSyntax)ToTask(q.Right)),
        AliasQualifiedNameSyntax a => a.WithName((SimpleNameSyntax)ToTask(a.Name)),
        GenericNameSyntax g => g.WithIdentifier(SyntaxFactory.Identifier("Task").WithTriviaFrom(g.Identifier)),
        _ => SyntaxFactory.IdentifierName("Task").WithTriviaFrom(type),
    };
}
