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

namespace Middleware.Analyzers.CodeFixes;

/// <summary>
/// MW0001: replaces a direct read of the clock, a new GUID or a random number generator with the recorded one of the
/// context (<c>DateTime.UtcNow</c> to <c>Context.UtcNow</c>, <c>Guid.NewGuid()</c> to <c>Context.NewGuid()</c>,
/// <c>Random.Shared</c> and <c>new Random()</c> to <c>Context.Random</c>). Offered where Context is in reach: in an
/// instance member of the component class itself. Reads with another meaning (local time, ticks) get no fix.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(NondeterminismCodeFix)), Shared]
public sealed class NondeterminismCodeFix : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(NondeterminismAnalyzer.Id);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            if (node is not ExpressionSyntax expression || Replacement(expression, model, context.CancellationToken) is not { } replacement) continue;
            context.RegisterCodeFix(
                CodeAction.Create($"Use {replacement}", _ => Task.FromResult(context.Document.WithSyntaxRoot(
                    root.ReplaceNode(expression, SyntaxFactory.ParseExpression(replacement).WithTriviaFrom(expression)))), "MW0001"),
                diagnostic);
        }
    }

    private static string? Replacement(ExpressionSyntax expression, SemanticModel model, CancellationToken cancellation)
    {
        var symbol = model.GetSymbolInfo(expression, cancellation).Symbol;
        var replacement = (symbol?.ContainingType?.ToDisplayString(), symbol?.Name, expression) switch
        {
            ("System.DateTime", "UtcNow", _) => "Context.UtcNow",
            ("System.Guid", "NewGuid", InvocationExpressionSyntax) => "Context.NewGuid()",
            ("System.Random", "Shared", _) => "Context.Random",
            ("System.Random", ".ctor", BaseObjectCreationExpressionSyntax { ArgumentList.Arguments.Count: 0 } or BaseObjectCreationExpressionSyntax { ArgumentList: null }) => "Context.Random",
            _ => null,
        };
        return replacement is not null && ContextInReach(expression, model, cancellation) ? replacement : null;
    }

    /// <summary>True in an instance member of a class that inherits RecoverableGrain&lt;TState&gt; (Context is its protected property).</summary>
    private static bool ContextInReach(SyntaxNode node, SemanticModel model, CancellationToken cancellation)
    {
        var member = node.FirstAncestorOrSelf<MemberDeclarationSyntax>(m => m is BaseMethodDeclarationSyntax or BasePropertyDeclarationSyntax or FieldDeclarationSyntax);
        if (member is null || member.Modifiers.Any(SyntaxKind.StaticKeyword) || member is FieldDeclarationSyntax) return false;
        if (node.Ancestors().Any(a => (a as AnonymousFunctionExpressionSyntax)?.Modifiers.Any(SyntaxKind.StaticKeyword) == true
            || (a as LocalFunctionStatementSyntax)?.Modifiers.Any(SyntaxKind.StaticKeyword) == true)) return false;
        if (member.Parent is not ClassDeclarationSyntax type || model.GetDeclaredSymbol(type, cancellation) is not { } symbol) return false;
        for (var b = symbol.BaseType; b is not null; b = b.BaseType)
        {
            if (b.OriginalDefinition.ToDisplayString() == "Middleware.Grains.RecoverableGrain<TState>") return true;
        }

        return false;
    }
}
